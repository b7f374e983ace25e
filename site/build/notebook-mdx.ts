/**
 * An executed notebook (notebooks/NN-name.ipynb) → an MDX page: markdown cells as markdown,
 * code cells as `<Cell>` elements holding the highlighted source and the stored outputs
 * (text, markdown tables, Plotly charts, images), and each code cell compiled for the browser.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { compileCell, type CompiledCell } from './cells.js';

interface NotebookCell {
  cell_type: 'markdown' | 'code' | 'raw';
  source: string | string[];
  metadata?: { tags?: string[] };
  outputs?: NotebookOutput[];
}

interface NotebookOutput {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error';
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

/** MIME type of Plotly chart outputs (see `plot` in bireal/notebook). */
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/** The modules of the library whose exports the API reference documents. */
export type ApiModule = 'bireal' | 'bireal/notebook';

/** An export of the library that a code cell uses. */
export interface ApiUse {
  module: ApiModule;
  name: string;
}

/** A notebook as a page: its MDX source, title and the cells' browser code. */
export interface NotebookPage {
  /** File name without extension, e.g. `01-binarization`. */
  slug: string;
  title: string;
  /** First paragraph of the introduction, for the index and the page description. */
  summary: string;
  mdx: string;
  /** Per code cell, in order: browser code, or undefined when the cell needs Node. */
  cells: (CompiledCell & { node: boolean })[];
  /** Per code cell, in order: the library's exports its code uses (see {@link apiUses}). */
  uses: ApiUse[][];
}

const IMPORT = /import\s*\{([^}]*)\}\s*from\s*'(bireal(?:\/notebook)?)';?/g;

/**
 * The exports of `bireal` and `bireal/notebook` that `source` (a code cell) names outside its
 * imports; `imported` holds what the notebook's cells imported so far (this cell's imports are
 * added to it).
 */
export function apiUses(source: string, imported: Map<string, ApiUse>): ApiUse[] {
  for (const [, names = '', module] of source.matchAll(IMPORT)) {
    for (const entry of names.split(',')) {
      const [name, local = name] = entry
        .replace(/^\s*type\s/, '')
        .split(/\s+as\s+/)
        .map((n) => n.trim());
      if (name) imported.set(local ?? name, { module: module as ApiModule, name });
    }
  }
  const code = source.replace(IMPORT, '');
  return [...imported].flatMap(([local, use]) =>
    new RegExp(`(?<![\\w$.])${local.replace(/\$/g, '\\$')}(?![\\w$])`).test(code) ? [use] : [],
  );
}

/** The experiments whose recorded runs a code cell loads (`experimentRuns('NAME')`). */
export function replayedExperiments(source: string): string[] {
  return [
    ...new Set([...source.matchAll(/experimentRuns\(\s*'([\w-]+)'/g)].map((m) => m[1] ?? '')),
  ];
}

/**
 * The first paragraph of a notebook's introduction, as one line; one that leads into a table or
 * list (ending with ':') ends with a full stop instead.
 */
export function summaryOf(introduction: string): string {
  const first = introduction.trim().split(/\n\s*\n/)[0] ?? '';
  return first.replace(/\s+/g, ' ').replace(/:$/, '.');
}

const text = (value: string | string[] | undefined): string =>
  Array.isArray(value) ? value.join('') : (value ?? '');

/**
 * Escapes what MDX would read as JSX or expressions (`<`, `{`, `}`) in markdown, leaving code
 * (fenced and inline) and math (`$...$`, `$$...$$`) as written.
 */
export function escapeMarkdown(markdown: string): string {
  const verbatim = /```[\s\S]*?```|\$\$[\s\S]*?\$\$|\$[^$\n]+\$|`[^`\n]+`/g;
  let out = '';
  let last = 0;
  for (const match of markdown.matchAll(verbatim)) {
    out += markdown.slice(last, match.index).replace(/[<{}]/g, (c) => `\\${c}`) + match[0];
    last = match.index + match[0].length;
  }
  return out + markdown.slice(last).replace(/[<{}]/g, (c) => `\\${c}`);
}

/**
 * A markdown output as MDX: escaped like {@link escapeMarkdown}, except the collapsible notes
 * that outputs write as HTML (`<details><summary>S</summary>BODY</details>`, e.g. the
 * notebooks' "Recorded runs" notes), which become the same elements, so a stored output reads
 * as the page renders it after Run.
 */
export function markdownOutput(markdown: string): string {
  const details = /<details><summary>([\s\S]*?)<\/summary>([\s\S]*?)<\/details>/g;
  let out = '';
  let last = 0;
  for (const match of markdown.matchAll(details)) {
    const [, summary = '', body = ''] = match;
    out +=
      escapeMarkdown(markdown.slice(last, match.index)) +
      `\n\n<details>\n<summary>${escapeMarkdown(summary)}</summary>\n\n` +
      `${escapeMarkdown(body)}\n\n</details>\n\n`;
    last = match.index + match[0].length;
  }
  return out + escapeMarkdown(markdown.slice(last));
}

/** A JSX attribute value holding `value` as a JavaScript literal. */
const prop = (value: unknown): string => `{${JSON.stringify(value)}}`;

function outputMdx(output: NotebookOutput): string {
  if (output.output_type === 'stream') {
    return `<Stream name=${prop(output.name ?? 'stdout')} text=${prop(text(output.text))} />`;
  }
  if (output.output_type === 'error') {
    return `<Stream name="stderr" text=${prop(`${output.ename}: ${output.evalue}`)} />`;
  }
  const data = output.data ?? {};
  if (data[PLOTLY_MIME] !== undefined) return `<Chart spec=${prop(data[PLOTLY_MIME])} />`;
  if (data['text/markdown'] !== undefined) {
    return `<Markdown>\n\n${markdownOutput(text(data['text/markdown'] as string))}\n\n</Markdown>`;
  }
  for (const mime of ['image/png', 'image/jpeg', 'image/svg+xml']) {
    if (data[mime] !== undefined)
      return `<Picture mime="${mime}" data=${prop(text(data[mime] as string))} />`;
  }
  if (data['text/html'] !== undefined)
    return `<Html html=${prop(text(data['text/html'] as string))} />`;
  return `<Stream name="stdout" text=${prop(text(data['text/plain'] as string))} />`;
}

/** Reads `path` (an executed .ipynb) and converts it (see {@link NotebookPage}). */
export async function notebookPage(path: string): Promise<NotebookPage> {
  const notebook = JSON.parse(await readFile(path, 'utf8')) as { cells?: NotebookCell[] };
  if (!Array.isArray(notebook.cells)) throw new Error(`${path}: not a notebook (no cells array)`);
  const slug = basename(path, '.ipynb');
  const parts = [`{/* Generated from notebooks/${slug}.ipynb by site/build: do not edit. */}`];
  const cells: NotebookPage['cells'] = [];
  const uses: ApiUse[][] = [];
  const imported = new Map<string, ApiUse>();
  let title = slug;
  let summary = '';
  for (const cell of notebook.cells) {
    const source = text(cell.source);
    if (cell.cell_type === 'markdown') {
      const heading = /^# (.+)$/m.exec(source);
      if (heading?.[1] !== undefined && title === slug) {
        title = heading[1].trim();
        summary = summaryOf(source.replace(/^#.*$/m, ''));
      }
      parts.push(escapeMarkdown(source));
    } else if (cell.cell_type === 'code') {
      const node = cell.metadata?.tags?.includes('node') ?? false;
      const answer = cell.metadata?.tags?.includes('answer') ?? false;
      const index = cells.length;
      cells.push({ ...compileCell(source), node });
      uses.push(apiUses(source, imported));
      const outputs = (cell.outputs ?? []).map(outputMdx).join('\n\n');
      const props = `index={${index}} node={${node}} answer={${answer}} api=${prop(uses[index])} replays=${prop(replayedExperiments(source))}`;
      parts.push(
        `<Cell ${props}>\n\n\`\`\`ts\n${source}\n\`\`\`\n\n<Outputs>\n\n${outputs}\n\n</Outputs>\n\n</Cell>`,
      );
    }
  }
  return { slug, title, summary, mdx: parts.join('\n\n') + '\n', cells, uses };
}
