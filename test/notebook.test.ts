import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExperimentRun } from '../src/experiments/index.js';
import {
  accuracyCurves,
  experimentRuns,
  initialisationTable,
  provenance,
  type PlotlyObject,
} from '../src/notebook/index.js';

/** A recorded run with what the charts and provenance read. */
function run(variant: string, seed: number, top1: number, width: number): ExperimentRun {
  return {
    variant,
    seed,
    recipe: { stages: [{ epochs: 16, model: { options: { width } }, optimizer: { lr: 4e-3 } }] },
    summary: {
      dataset: { train: 'imagenette:train', eval: 'imagenette:val', imageSize: 64 },
      eval: { top1, n: 3925 },
      backend: 'wasm',
      commit: '0123456789abcdef',
    },
    metrics: [],
  } as unknown as ExperimentRun;
}

/** Captures the charts a helper shows. */
function capture(): { charts: { data: PlotlyObject[]; layout: PlotlyObject }[]; display: never } {
  const charts: { data: PlotlyObject[]; layout: PlotlyObject }[] = [];
  const display = {
    raw: (type: string, chart: { data: PlotlyObject[]; layout: PlotlyObject }) => {
      assert.equal(type, 'application/vnd.plotly.v1+json');
      charts.push(chart);
    },
    markdown: () => undefined,
  };
  return { charts, display: display as never };
}

describe('notebook helpers', () => {
  it('accuracy curves give a run the same colour for validation and training', () => {
    const { charts, display } = capture();
    const curves = (variant: string) => ({
      ...run(variant, 0, 0.5, 1),
      metrics: [
        { type: 'epoch', epoch: 1, accuracy: 0.4 },
        { type: 'eval', epoch: 1, top1: 0.5 },
      ],
    });
    accuracyCurves(display, [curves('a'), curves('b')], 'curves');
    const traces = charts[0]?.data ?? [];
    assert.deepEqual(
      traces.map((t) => [t['name'], (t['line'] as { color: string }).color, t['y']]),
      [
        ['a: val top-1', '#1f77b4', [50]],
        ['b: val top-1', '#ff7f0e', [50]],
        ['a: train accuracy', '#1f77b4', [40]],
        ['b: train accuracy', '#ff7f0e', [40]],
      ],
    );
  });

  it('the initialisation table reads each stage: real top-1, the first 1-bit epoch, the final model', () => {
    const twoStage = (variant: string, stages: string[]): ExperimentRun => ({
      ...run(variant, 0, 0.7, 1),
      recipe: { stages: stages.map((name) => ({ name })) } as ExperimentRun['recipe'],
      metrics: [
        { type: 'epoch', stage: 'real', epoch: 1, accuracy: 0.3 },
        { type: 'eval', stage: 'real', epoch: 1, top1: 0.55 },
        { type: 'epoch', stage: 'binary', epoch: 1, accuracy: 0.45 },
        { type: 'epoch', stage: 'binary', epoch: 2, accuracy: 0.6 },
      ].filter((m) => stages.includes(m.stage)),
    });
    const rows = initialisationTable([
      twoStage('clip', ['real', 'binary']),
      twoStage('scratch', ['binary']),
    ])
      .split('\n')
      .slice(2);
    assert.deepEqual(rows, [
      '| clip | 55.0 | 45.0 | 70.0 | - |',
      '| scratch | - | 45.0 | 70.0 | - |',
    ]);
  });

  it('provenance labels the runs in one line and folds backends and commits', () => {
    const text = provenance([run('bi-real-w0.5', 0, 0.6, 0.5), run('bi-real-w1', 1, 0.7, 1)]);
    assert.match(
      text,
      /^<details><summary>Recorded runs: imagenette:train at 64 px, width 0.5, 1, 16 epochs, seeds 0, 1<\/summary>/,
    );
    assert.match(text, /Backend wasm; commits 0123456789; evaluated on 3925 imagenette:val images/);
    assert.equal(provenance([]), 'No recorded runs yet.');
  });

  it('an experiment with no recorded run yet has no runs; a broken recording names its file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bireal-notebook-'));
    writeFileSync(join(root, 'package.json'), '{}');
    mkdirSync(join(root, 'results', 'experiments', 'shortcut', 'plain-s0'), { recursive: true });
    const cwd = process.cwd();
    process.chdir(root);
    try {
      assert.deepEqual(await experimentRuns('regime-map-64'), []);
      await assert.rejects(experimentRuns('shortcut'), /config\.json/);
    } finally {
      process.chdir(cwd);
    }
  });
});
