/**
 * Where the site's files are, relative to the current page: every page sets
 * `<html data-base="../">` (or `./`), so the site works under any sub-path of a static host.
 */
export function siteBase(): string {
  return document.documentElement.dataset['base'] ?? './';
}

/** The URL of a file under the site's `assets/` folder. */
export function assetUrl(path: string): string {
  return new URL(`${siteBase()}assets/${path}`, document.baseURI).href;
}
