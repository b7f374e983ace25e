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
 * @param spec - the dataset split, e.g. `imagenette:val` (see `openDataset`).
 * @param count - how many examples.
 * @param size - their side in pixels after the crop.
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
  /**
   * Shows `data` as an output of MIME type `contentType`.
   * @param contentType - the MIME type, e.g. `text/html`.
   * @param data - the output in that type.
   */
  raw(contentType: string, data: unknown): unknown;
  /**
   * Shows `text` rendered as markdown.
   * @param text - the markdown source.
   */
  markdown(text: string): void;
}

/** A Plotly trace or layout: plain JSON, as plotly.js takes it. */
export type PlotlyObject = Record<string, unknown>;

/**
 * Shows an interactive Plotly chart as a notebook output (MIME type
 * `application/vnd.plotly.v1+json`: JupyterLab, VS Code and the site render it with one copy of
 * plotly.js; the notebook holds only the chart's data).
 * @param display - the notebook's display (tslab's `display`).
 * @param data - the Plotly traces.
 * @param layout - the Plotly layout (title, axes, size).
 */
export function plot(display: Display, data: PlotlyObject[], layout: PlotlyObject = {}): void {
  display.raw('application/vnd.plotly.v1+json', {
    data,
    layout: { height: 360, margin: { t: 48, r: 16, b: 48, l: 56 }, ...layout },
  });
}

/**
 * A markdown table from rows of cells (numbers printed as given: format them first).
 * @param header - the column headings.
 * @param rows - one array of cells per row.
 */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * The repository root, found from the notebooks' working folder (notebooks/) or the root.
 * @param from - the folder to start from; default: the working folder.
 */
export function projectRoot(from = process.cwd()): string {
  for (const dir of [from, join(from, '..')]) {
    if (existsSync(join(dir, 'results')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`cannot find the bireal repository (with results/) from ${from}`);
}

/**
 * The runs of experiment `name` (see src/experiments): in quick mode, trained now at quick size
 * (runs/experiments/); in full mode, the recorded runs under results/experiments/ (none while
 * its first run is still training).
 * @param name - the experiment, a key of `EXPERIMENTS`.
 */
export async function experimentRuns(name: string): Promise<ExperimentRun[]> {
  const root = projectRoot();
  if (QUICK)
    return runExperiment(name, { quick: true, runsDir: join(root, 'runs', 'experiments') });
  const results = join(root, 'results', 'experiments');
  return existsSync(join(results, name)) ? loadExperiment(name, results) : [];
}

/**
 * Where the numbers of `runs` come from, for under a table: what a result is labelled with
 * (dataset, resolution, width, epochs, seeds) in one line, and the provenance (backends,
 * commits, evaluation set) folded inside it.
 * @param runs - the runs the table shows (e.g. one experiment's).
 */
export function provenance(runs: ExperimentRun[]): string {
  const first = runs[0];
  if (first === undefined) return 'No recorded runs yet.';
  if (QUICK)
    return '**Quick mode**: 3 batches of 16 at 32 px per run, at most 2 seeds; not a result.';
  const distinct = (values: (string | number)[]) => [...new Set(values)].join(', ');
  const backends = runs.map(({ summary: s }) =>
    s.replicas === undefined || s.replicas === 1
      ? s.backend
      : `${s.backend} x ${s.replicas} replicas`,
  );
  const label =
    `Recorded runs: ${distinct(runs.map((r) => r.summary.dataset.train))} at ` +
    `${distinct(runs.map((r) => r.summary.dataset.imageSize))} px, width ` +
    `${distinct(runs.map((r) => r.recipe.stages.at(-1)?.model.options?.width ?? 1))}, ` +
    `${distinct(runs.map((r) => r.recipe.stages.map((s) => s.epochs).join(' + ')))} epochs, ` +
    `seeds ${distinct(runs.map((r) => r.seed))}`;
  const details =
    `Backend ${distinct(backends)}; commits ${distinct(runs.map((r) => r.summary.commit.slice(0, 10)))}; ` +
    `evaluated on ${distinct(runs.map((r) => `${r.summary.eval.n} ${r.summary.dataset.eval}`))} images.`;
  return `<details><summary>${label}</summary>${details}</details>`;
}

/** Plotly's default colours, to give one series the same colour in several traces or panels. */
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/** Chart title suffix: says whether the chart shows a quick run or recorded runs. */
export const RUNS_LABEL = QUICK ? 'QUICK MODE (not a result)' : 'recorded runs';

/**
 * One Plotly line per run of a per-epoch metric from metrics.jsonl: entries of `type` ('epoch'
 * or 'eval'), value `key` times `scale`.
 * @param runs - the runs, one line each.
 * @param type - which entries of metrics.jsonl: 'epoch' (training) or 'eval' (validation).
 * @param key - the metric's key in those entries, e.g. `top1`.
 * @param scale - multiplies every value (e.g. 100 for %).
 * @param name - the legend's name for a run; default: its variant.
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

/**
 * Run `r` with the metrics of its stage `stage` only (e.g. 'real' or 'binary' of a two-stage
 * recipe).
 * @param r - the run.
 * @param stage - the stage's name in its recipe.
 */
export function stageRun(r: ExperimentRun, stage: string): ExperimentRun {
  return { ...r, metrics: r.metrics.filter((m) => m['stage'] === stage) };
}

/**
 * The runs of an initialisation experiment (a real network trains first and the 1-bit network
 * starts from its weights, or the 1-bit network starts from scratch) as a table: the real
 * network's top-1, the 1-bit network's training accuracy over its first epoch (the head start
 * its initialisation gives), and its final top-1 and top-5, in %.
 * @param runs - the runs of the experiment, each variant's seeds.
 */
export function initialisationTable(runs: ExperimentRun[]): string {
  const percent = (v: unknown) => (typeof v === 'number' ? (100 * v).toFixed(1) : '-');
  return markdownTable(
    [
      'start',
      'real network top-1 (%)',
      '1-bit network, training accuracy in its first epoch (%)',
      '1-bit network top-1 (%)',
      'top-5 (%)',
    ],
    runs.map((r) => {
      const last = r.recipe.stages.at(-1)?.name;
      const realEval = r.metrics.filter((m) => m['type'] === 'eval' && m['stage'] !== last).at(-1);
      const firstEpoch = r.metrics.find((m) => m['type'] === 'epoch' && m['stage'] === last);
      return [
        r.variant,
        percent(realEval?.['top1']),
        percent(firstEpoch?.['accuracy']),
        percent(r.summary.eval.top1),
        percent(r.summary.eval.top5),
      ];
    }),
  );
}

/**
 * Accuracy after each epoch of each run: validation top-1 as a solid line, training accuracy
 * dotted, in the run's colour.
 * @param display - the notebook's display (tslab's `display`).
 * @param runs - the runs, a colour each.
 * @param title - the chart's title.
 */
export function accuracyCurves(display: Display, runs: ExperimentRun[], title: string): void {
  const colored = (traces: PlotlyObject[], dash: string) =>
    traces.map((trace, i) => ({
      ...trace,
      line: { color: COLORS[i % COLORS.length], dash },
      marker: { color: COLORS[i % COLORS.length] },
    }));
  plot(
    display,
    [
      ...colored(
        epochCurves(runs, 'eval', 'top1', 100, (r) => `${r.variant}: val top-1`),
        'solid',
      ),
      ...colored(
        epochCurves(runs, 'epoch', 'accuracy', 100, (r) => `${r.variant}: train accuracy`),
        'dot',
      ).map((trace) => ({ ...trace, mode: 'lines' })),
    ],
    {
      title: { text: title },
      xaxis: { title: { text: 'epoch' }, dtick: 1 },
      yaxis: { title: { text: 'accuracy (%)' } },
    },
  );
}
