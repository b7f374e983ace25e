/**
 * Helpers for the tutorial notebooks (notebooks/, tslab kernel): quick/full mode, Plotly charts
 * as notebook outputs, tables, and where the repository (and its results/) is.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Quick mode (env BIREAL_QUICK=1): what CI runs; small experiments, same code paths. */
export const QUICK = typeof process !== 'undefined' && process.env['BIREAL_QUICK'] === '1';

/** What tslab's `display` offers (pass `tslab.display` from a notebook). */
export interface Display {
  raw(contentType: string, data: unknown): unknown;
  markdown(text: string): void;
}

/** A Plotly trace or layout: plain JSON, as plotly.js takes it. */
export type PlotlyObject = Record<string, unknown>;

/**
 * Shows an interactive Plotly chart as a notebook output (MIME type
 * `application/vnd.plotly.v1+json`: JupyterLab, VS Code and the site render it with one copy of
 * plotly.js; the notebook holds only the chart's data).
 */
export function plot(display: Display, data: PlotlyObject[], layout: PlotlyObject = {}): void {
  display.raw('application/vnd.plotly.v1+json', {
    data,
    layout: { height: 360, margin: { t: 48, r: 16, b: 48, l: 56 }, ...layout },
  });
}

/** A markdown table from rows of cells (numbers printed as given: format them first). */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The repository root, found from the notebooks' working folder (notebooks/) or the root. */
export function projectRoot(from = process.cwd()): string {
  for (const dir of [from, join(from, '..')]) {
    if (existsSync(join(dir, 'results')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`cannot find the bireal repository (with results/) from ${from}`);
}
