import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/backend/index.js';
import type { ExperimentRun } from '../src/experiments/index.js';
import { readFileSync } from 'node:fs';
import { decodeDeployFile } from '../src/engine/index.js';
import {
  TABLE_MODELS,
  deployFile,
  formatPercent,
  gridTable,
  modelTable,
} from '../src/experiments/report.js';

/** A recorded run with only what the tables read. */
function run(variant: string, seed: number, top1: number, top5 = 0.9): ExperimentRun {
  return {
    variant,
    seed,
    recipe: { stages: [{ epochs: 6 }] },
    summary: { dataset: { train: 'imagenette:train', imageSize: 32 }, eval: { top1, top5 } },
    metrics: [],
  } as unknown as ExperimentRun;
}

before(async () => {
  await initBackend({ log: false });
});

const rows = (markdown: string) => markdown.split('\n').map((line) => line.split(' | '));

describe('result tables', () => {
  it('formats mean ± sample std in percent, a single seed without std, none as -', () => {
    assert.equal(formatPercent([0.4, 0.42, 0.44]), '42.0 ± 2.0');
    assert.equal(formatPercent([0.417]), '41.7');
    assert.equal(formatPercent([]), '-');
  });

  it('the grid gives each variant its mean, the difference to Bi-Real-18 and the seed count', () => {
    const imagenette = [run('bi-real', 0, 0.4), run('bi-real', 1, 0.42), run('ste', 0, 0.35)];
    const table = rows(gridTable({ Imagenette: imagenette, 'CIFAR-10': [run('bi-real', 0, 0.3)] }));
    const ste = table.find((cells) => cells[1] === 'STE');
    assert.deepEqual(ste?.slice(2), ['35.0', '-6.0', '1', '-', '-', '0 |']);
    const reference = table.find((cells) => cells[0] === '| Bi-Real-18 (reference)');
    assert.deepEqual(reference?.slice(2, 5), ['41.0 ± 1.4', '', '2']);
  });

  it('the model table counts ImageNet-1k params and FLOPs and shows the recorded accuracy', () => {
    const table = rows(modelTable([run('bireal18', 0, 0.5, 0.9), run('bireal18', 1, 0.52, 0.92)]));
    const bireal18 = table.find((cells) => cells[0] === '| Bi-Real-18');
    assert.deepEqual(bireal18?.slice(1, 6), ['11.69', '0.164', '51.0 ± 1.4', '91.0 ± 1.4', '2']);
    assert.equal(table.find((cells) => cells[0] === '| Bi-Real-34')?.[3], '-');
    assert.equal(bireal18?.[7], '`results/models/model-table-bireal18-s0.bireal`');
    const linked = rows(modelTable([], '../../')).find((cells) => cells[0] === '| Bi-Real-18');
    assert.equal(
      linked?.[7],
      '[model-table-bireal18-s0.bireal](../../results/models/model-table-bireal18-s0.bireal)',
    );
  });

  it('every download of the model table is a deploy file in the repository', () => {
    for (const { variant } of TABLE_MODELS) {
      const bytes = readFileSync(deployFile(variant));
      assert.ok(decodeDeployFile(bytes, variant).header.ops.length > 0);
    }
  });
});
