/**
 * Helpers for the tutorial notebooks (notebooks/, tslab kernel): quick/full mode, Plotly charts
 * as notebook outputs, tables, and where the repository (and its results/) is.
 *
 * @module bireal/notebook
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend } from '../backend/index.js';
import { openDataset } from '../data/index.js';
import { loadExperiment, runExperiment, type ExperimentRun } from '../experiments/index.js';

/** Quick mode (env BIREAL_QUICK=1): what CI runs; small experiments, same code paths. */
export const QUICK = typeof process !== 'undefined' && process.env['BIREAL_QUICK'] === '1';

/** Starts the backend and prints it with the mode: the first line of every notebook. */
export async function startNotebook(): Promise<void> {
  await initBackend({ log: false });
  console.log(`backend: ${describeBackend()}; mode: ${QUICK ? 'quick' : 'full'}`);
}

/**
 * The first `count` examples of a dataset split through the training pipeline (random crops,
 * seed 1) at `size` px, as an NHWC tensor: a fixed handful of real photos to look at.
 */
export async function samplePhotos(
  spec: string,
  count: number,
  size: number,
): Promise<tf.Tensor4D> {
  const split = await openDataset(spec);
  try {
    const options = { batchSize: count, imageSize: size, augment: true, seed: 1, workers: 0 };
    for await (const b of split.batches(options, 0)) {
      return tf.tensor4d(b.images, [b.n, size, size, b.channels]);
    }
    throw new Error(`${spec} gave no batch`);
  } finally {
    await split.close();
  }
}

/** What tslab's `display` offers (pass `tslab.display` from a notebook). */
export interface Display {
  /** Shows `data` as an output of MIME type `contentType`. */
  raw(contentType: string, data: unknown): unknown;
  /** Shows `text` rendered as markdown. */
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

/**
 * The runs of experiment `name` (see src/experiments): in quick mode, trained now at quick size
 * (runs/experiments/); in full mode, the recorded runs under results/experiments/.
 */
export async function experimentRuns(name: string): Promise<ExperimentRun[]> {
  const root = projectRoot();
  return QUICK
    ? runExperiment(name, { quick: true, runsDir: join(root, 'runs', 'experiments') })
    : loadExperiment(name, join(root, 'results', 'experiments'));
}

/** Where the numbers of `runs` come from, in one sentence for under a table. */
export function provenance(runs: ExperimentRun[]): string {
  const first = runs[0];
  if (first === undefined) return 'No runs.';
  if (QUICK)
    return '**Quick mode**: 3 batches of 16 at 32 px per run, at most 2 seeds; not a result.';
  const { dataset, eval: score } = first.summary;
  const distinct = (values: (string | number)[]) => [...new Set(values)].join(', ');
  const backends = runs.map(({ summary: s }) =>
    s.replicas === undefined ? s.backend : `${s.backend} x ${s.replicas} replicas`,
  );
  return (
    `Recorded runs: ${dataset.train} at ${dataset.imageSize} px, ` +
    `${first.recipe.stages.map((s) => s.epochs).join(' + ')} epochs, seeds ` +
    `${distinct(runs.map((r) => r.seed))}; backend ${distinct(backends)}; commits ` +
    `${distinct(runs.map((r) => r.summary.commit.slice(0, 10)))}; evaluated on ${score.n} ` +
    `${dataset.eval} images.`
  );
}

/** Chart title suffix: says whether the chart shows a quick run or recorded runs. */
export const RUNS_LABEL = QUICK ? 'QUICK MODE (not a result)' : 'recorded runs';

/**
 * One Plotly line per run of a per-epoch metric from metrics.jsonl: entries of `type` ('epoch'
 * or 'eval'), value `key` times `scale`.
 */
export function epochCurves(
  runs: ExperimentRun[],
  type: 'epoch' | 'eval',
  key: string,
  scale = 1,
  name = (r: ExperimentRun) => r.variant,
): PlotlyObject[] {
  return runs.map((r) => {
    const entries = r.metrics.filter((m) => m['type'] === type);
    return {
      type: 'scatter',
      mode: 'lines+markers',
      name: name(r),
      x: entries.map((e) => e['epoch']),
      y: entries.map((e) => scale * (e[key] as number)),
    };
  });
}
