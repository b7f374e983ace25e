/**
 * The markdown pages of `docs/` (they read on GitHub too) → pages of the site under `docs/`:
 * their title is the first `# ` heading; links between them become links between the pages,
 * links to the README, the deploy page's source and the notebooks lead to the site's pages,
 * and links to other files of the repository (which the site does not serve) become plain text.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { escapeMarkdown } from './notebook-mdx.js';

/** The folder of the markdown pages, in the repository and in the site. */
export const DOCS_DIR = 'docs';

/** One markdown page of `docs/`. */
export interface DocPage {
  /** File name without `.md`, e.g. `engine`. */
  slug: string;
  /** The page in the site, e.g. `docs/engine.html`. */
  path: string;
  title: string;
  /** The first paragraph after the title, as plain text. */
  summary: string;
  /** The page as MDX: the markdown with what MDX would read as JSX escaped. */
  mdx: string;
}

/** `[text](url)` → text, `` `code` `` → code, whitespace collapsed. */
const plain = (markdown: string): string =>
  markdown
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*_]/g, '')
    .replace(/\s+/g, ' ')
    .trim();

/** Reads one markdown page (`file` under `docs/`). */
export async function docPage(file: string): Promise<DocPage> {
  const markdown = await readFile(file, 'utf8');
  const slug = basename(file, '.md');
  const heading = /^# (.+)$/m.exec(markdown);
  if (heading?.[1] === undefined) throw new Error(`${file}: no '# title' line`);
  const rest = markdown.slice((heading.index ?? 0) + heading[0].length);
  const summary = plain(rest.trim().split(/\n\s*\n/)[0] ?? '');
  return {
    slug,
    path: `${DOCS_DIR}/${slug}.html`,
    title: heading[1].trim(),
    summary,
    mdx: escapeMarkdown(markdown),
  };
}

/** The order of the pages in the navigation, from the reader's first questions on; others follow. */
const ORDER = ['engine', 'training', 'notebooks', 'backends', 'benchmarks', 'site', 'library'];

/** Every markdown page of `dir` (default `docs/`), in the navigation's order. */
export async function docPages(dir = DOCS_DIR): Promise<DocPage[]> {
  const rank = (file: string) => {
    const i = ORDER.indexOf(basename(file, '.md'));
    return i === -1 ? ORDER.length : i;
  };
  const files = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.md'))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return Promise.all(files.map((f) => docPage(join(dir, f))));
}

/**
 * Where a link of a docs page leads in the site (the page is at `docs/NAME.html`), or undefined
 * when its target is a file of the repository that the site does not serve (the link becomes
 * its text). `slugs`: the docs pages there are.
 */
export function siteLink(href: string, slugs: ReadonlySet<string>): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#') || href.startsWith('//')) {
    return href; // another site, a mail address, or a place on this page
  }
  const [path = '', hash = ''] = href.split(/(?=#)/);
  const target = posix.normalize(posix.join(DOCS_DIR, path));
  const doc = new RegExp(`^${DOCS_DIR}/([\\w.-]+)\\.md$`).exec(target)?.[1];
  if (doc !== undefined && slugs.has(doc)) return `${doc}.html${hash}`;
  if (target === 'README.md') return '../index.html';
  if (target === 'site/pages/deploy.mdx') return `../deploy.html${hash}`;
  const notebook = /^notebooks\/(\d\d-[\w-]+)\.ipynb$/.exec(target)?.[1];
  if (notebook !== undefined) return `../${notebook}.html${hash}`;
  return undefined;
}
