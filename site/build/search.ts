/**
 * The client-side search index: every page split into sections at its h2 and h3 headings (in
 * the API reference, one per export), as MiniSearch documents (site/client/search.ts loads and
 * queries it).
 */
import { writeFile } from 'node:fs/promises';
import MiniSearch from 'minisearch';
import { SEARCH_OPTIONS, type SearchDocument } from '../client/search.js';

/** The characters React's markup escapes, and the spaces KaTeX and tables use. */
const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  nbsp: ' ',
};

/** Text of `html`, its entities decoded (an apostrophe stays an apostrophe). */
export function plainText(html: string): string {
  return html
    .replace(/<(script|style|annotation)[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, name: string) =>
      name.startsWith('#')
        ? String.fromCodePoint(Number(name.replace(/^#x/i, '0x').replace('#', '')))
        : (ENTITIES[name] ?? entity),
    )
    .replace(/\s+/g, ' ')
    .trim();
}

/** Sections of one page's HTML: the text before the first h2, then each h2 or h3 with its text. */
export function sections(path: string, title: string, html: string): SearchDocument[] {
  const parts = html.split(/(?=<h[23] id=")/);
  return parts.map((part, i) => {
    const heading = /^<h([23]) id="([^"]+)">([\s\S]*?)<\/h\1>/.exec(part);
    return {
      id: heading ? `${path}#${heading[2]}` : path,
      page: title,
      title: heading ? plainText(heading[3] ?? '') : i === 0 ? title : '',
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
