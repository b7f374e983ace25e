/**
 * The API reference: TypeDoc HTML for the package's two entry points (`bireal` and
 * `bireal/notebook`), generated from the doc comments in src/ into `site/dist/api/`.
 */
import { resolve } from 'node:path';
import { Application, LogLevel, OptionDefaults, PageEvent, type TypeDocOptions } from 'typedoc';

/** Links in the toolbar, relative to the API reference's own root folder. */
const NAVIGATION_LINKS: Record<string, string> = { Guide: '../index.html' };

/** The entry points; their `@module` tags name them `bireal` and `bireal/notebook`. */
const ENTRY_POINTS = ['src/index.ts', 'src/notebook/index.ts'];

/**
 * TypeDoc's options. Paths are relative to the working directory, the repository root (as in
 * npm scripts).
 */
const OPTIONS: TypeDocOptions = {
  name: 'bireal API reference',
  entryPoints: ENTRY_POINTS,
  tsconfig: 'tsconfig.json',
  readme: 'none',
  navigationLinks: NAVIGATION_LINKS,
  customCss: 'site/build/api.css',
  // The site's icon (else browsers ask for /favicon.ico).
  favicon: 'site/styles/favicon.svg',
  // Only what the entry points export: no private, internal or external (tfjs) members.
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  // tfjs's `@doc` tags (on inherited layer methods) would show as empty "Doc" headings.
  excludeTags: [...OptionDefaults.excludeTags, '@doc'],
  // Speed: tsc type-checks the code; TypeDoc only reads it.
  skipErrorChecking: true,
  // Offline and reproducible: no git calls, source links or cache-busting query strings.
  disableGit: true,
  disableSources: true,
  cacheBust: false,
  hideGenerator: true,
  githubPages: false,
  logLevel: LogLevel.Warn,
  // Every export and method needs a doc comment; properties only where the name is not enough.
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: true },
  requiredToBeDocumented: [
    'Enum',
    'Variable',
    'Function',
    'Class',
    'Interface',
    'TypeAlias',
    'Method',
    'Accessor',
  ],
};

/** Changes to TypeDoc's markup on every page: [TypeDoc's, ours]. */
const MARKUP: [string, string][] = [
  // Landmarks around the content and the page's table of contents (axe: landmark-one-main,
  // region).
  ['<div class="col-content">', '<div class="col-content" role="main">'],
  [
    '<div class="page-menu">',
    '<div class="page-menu" role="navigation" aria-label="On this page">',
  ],
  // The sidebar has two <nav>s: name them apart (axe: landmark-unique).
  [
    '<nav id="tsd-sidebar-links" class="tsd-navigation">',
    '<nav id="tsd-sidebar-links" class="tsd-navigation" aria-label="Site">',
  ],
];

/**
 * Applies {@link MARKUP}, and makes the `navigationLinks` relative to the page: TypeDoc writes them
 * into every page as given, which breaks relative links on pages in subfolders (classes/, ...).
 */
function fixPage(page: PageEvent): void {
  if (page.contents === undefined) return;
  let html = page.contents;
  for (const [theirs, ours] of MARKUP) html = html.replace(theirs, ours);
  const up = '../'.repeat(page.url.split('/').length - 1);
  for (const [label, url] of Object.entries(NAVIGATION_LINKS)) {
    // In the toolbar, and in the sidebar (narrow screens).
    for (const end of [`>${label}</a>`, ` class="tsd-nav-link">${label}</a>`]) {
      html = html.replaceAll(`href="${url}"${end}`, `href="${up}${url}"${end}`);
    }
  }
  page.contents = html;
}

/**
 * Writes the API reference as HTML into `outDir` (replacing it). Returns how many HTML pages it
 * wrote and how many warnings TypeDoc logged (missing doc comments, broken links, referenced
 * types that are not exported); throws on errors.
 */
export async function buildApiReference(
  outDir: string,
): Promise<{ pages: number; warnings: number }> {
  const app = await Application.bootstrapWithPlugins(OPTIONS);
  // Speed: compile only the entry points and what they import (tsconfig.json also includes the
  // tests, benchmarks and site).
  const { options, logger } = app;
  const entryPoints = ENTRY_POINTS.map((path) => resolve(path));
  const compilerOptions = options.getCompilerOptions(logger);
  options.setCompilerOptions(entryPoints, compilerOptions, options.getProjectReferences());

  let pages = 0;
  app.renderer.on(PageEvent.END, (page) => {
    fixPage(page);
    pages++;
  });
  const project = await app.convert();
  if (project === undefined) throw new Error('TypeDoc could not convert src/ (see above)');
  app.validate(project);
  await app.generateDocs(project, resolve(outDir));
  if (logger.hasErrors()) throw new Error('TypeDoc reported errors (see above)');
  return { pages, warnings: logger.warningCount };
}
