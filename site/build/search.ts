/**
 * The client-side search index: every page split into sections at its h2 headings, as
 * MiniSearch documents (site/client/search.ts loads and queries it).
 */
import { writeFile } from 'node:fs/promises';
import MiniSearch from 'minisearch';
import { SEARCH_OPTIONS, type SearchDocument } from '../client/search.js';

const plainText = (html: string): string =>
  html
    .replace(/<(script|style|annotation)[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[a-z#0-9]+;/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** Sections of one page's HTML: the text before the first h2, then each h2 with its text. */
export function sections(path: string, title: string, html: string): SearchDocument[] {
  const parts = html.split(/(?=<h2 id=")/);
  return parts.map((part, i) => {
    const heading = /^<h2 id="([^"]+)">([\s\S]*?)<\/h2>/.exec(part);
    return {
      id: heading ? `${path}#${heading[1]}` : path,
      page: title,
      title: heading ? plainText(heading[2] ?? '') : i === 0 ? title : '',
      text: plainText(heading ? part.slice(heading[0].length) : part),
    };
  });
}

/** Writes the index of `pages` to `file` (MiniSearch JSON). */
export async function writeSearchIndex(
  pages: { path: string; title: string; html: string }[],
  file: string,
): Promise<void> {
  const index = new MiniSearch<SearchDocument>(SEARCH_OPTIONS);
  index.addAll(pages.flatMap((p) => sections(p.path, p.title, p.html)));
  await writeFile(file, JSON.stringify(index));
}
