import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/backend/index.js';
import type { ExperimentRun } from '../src/experiments/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { decodeDeployFile } from '../src/engine/index.js';
import {
  RESULTS_TABLES,
  deployFile,
  formatGap,
  formatPercent,
  gapBySeed,
  gridTable,
  modelTable,
  regimeCells,
  regimeTable,
  resultsMarkdown,
  twoStageRun,
} from '../src/experiments/report.js';

/** A recorded run with only what the tables read. */
function run(
  variant: string,
  seed: number,
  top1: number,
  top5 = 0.9,
  setting = { imageSize: 32, width: 0.25, lr: 4e-3 },
): ExperimentRun {
  const { imageSize, width, lr } = setting;
  return {
    variant,
    seed,
    recipe: { stages: [{ epochs: 6, model: { options: { width } }, optimizer: { lr } }] },
    summary: {
      dataset: { train: 'imagenette:train', imageSize, classes: 10 },
      eval: { top1, top5 },
    },
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

  it('the grid gives each variant its mean, its gap Bi-Real-18 − variant by seed, the seed count', () => {
    const imagenette = [
      run('bi-real', 0, 0.4),
      run('bi-real', 1, 0.42),
      run('ste', 0, 0.35),
      run('clipped-ste', 0, 0.45),
      run('clipped-ste', 1, 0.46),
    ];
    const table = rows(gridTable({ Imagenette: imagenette, 'CIFAR-10': [run('bi-real', 0, 0.3)] }));
    assert.equal(table[0]?.[3], 'Bi-Real-18 − variant (points)');
    const ste = table.find((cells) => cells[1] === 'STE');
    // Paired by seed: seed 0 only (40.0 − 35.0), not the difference of the means (41.0 − 35.0).
    assert.deepEqual(ste?.slice(2), ['35.0', '+5.0', '1', '-', '-', '0 |']);
    const clipped = table.find((cells) => cells[1] === 'clipped STE');
    assert.deepEqual(clipped?.slice(2, 5), ['45.5 ± 0.7', '−4.5 ± 0.7', '2']);
    const reference = table.find((cells) => cells[0] === '| Bi-Real-18 (reference)');
    assert.deepEqual(reference?.slice(2, 5), ['41.0 ± 1.4', '', '2']);
  });

  it('the model table counts ImageNet-1k params and FLOPs and shows the recorded accuracy', () => {
    const recorded = [run('bireal18', 0, 0.5, 0.9), run('bireal18', 1, 0.52, 0.92)];
    const table = rows(modelTable('model-table', recorded));
    const bireal18 = table.find((cells) => cells[0] === '| Bi-Real-18');
    assert.deepEqual(bireal18?.slice(1, 6), ['11.69', '0.164', '51.0 ± 1.4', '91.0 ± 1.4', '2']);
    assert.match(bireal18?.[6] ?? '', /^imagenette at 32 px, 6 epochs, width 0.25 /);
    assert.equal(table.find((cells) => cells[0] === '| Bi-Real-34')?.[3], '-');
    assert.equal(bireal18?.[7], '`results/models/model-table-bireal18-s0.bireal`');
    const linked = rows(modelTable('model-table', recorded, '../../')).find(
      (cells) => cells[0] === '| Bi-Real-18',
    );
    assert.equal(
      linked?.[7],
      '[model-table-bireal18-s0.bireal](../../results/models/model-table-bireal18-s0.bireal)',
    );
    const unrecorded = rows(modelTable('model-table', [], '../../'));
    assert.equal(unrecorded.find((cells) => cells[0] === '| Bi-Real-18')?.[7], '-');
    assert.throws(() => modelTable('nope', []), /no results table for 'nope'; valid: /);
  });

  it("a stage's row of a two-stage recipe shows that stage's evaluation", () => {
    const twoStage = {
      ...run('bi-real', 0, 0.8, 0.95, { imageSize: 224, width: 1, lr: 4e-3 }),
      summary: {
        dataset: { train: 'imagenette:train', imageSize: 224 },
        stages: [{ eval: { top1: 0.6, top5: 0.9 } }, { eval: { top1: 0.8, top5: 0.95 } }],
        eval: { top1: 0.8, top5: 0.95 },
      },
    } as unknown as ExperimentRun;
    const table = rows(modelTable('headline-224', [twoStage]));
    const real = table.find((cells) => cells[0] === '| real ResNet-18 (clip), stage 1');
    assert.deepEqual(real?.slice(3, 6), ['60.0', '90.0', '1']);
    assert.equal(real?.[7], '-');
    const binary = table.find((cells) => cells[0] === '| Bi-Real-18, stage 2 (from stage 1)');
    assert.deepEqual(binary?.slice(3, 6), ['80.0', '95.0', '1']);
    assert.equal(binary?.[7], '`results/models/headline-224-bi-real-s0.bireal`');
  });

  it("describes the two-stage run from its recipe, not as the paper's recipe", () => {
    const stage = (model: string, epochs: number, options: object) => ({
      model: { name: model, options },
      epochs,
      optimizer: { type: 'adam', lr: 4e-3, weightDecay: 0 },
    });
    const base = run('bi-real', 0, 0.8);
    const twoStage = {
      ...base,
      recipe: {
        stages: [stage('resnet18', 3, { activation: 'clip' }), stage('bireal18', 8, {})],
      },
      summary: {
        ...base.summary,
        stages: [{ eval: base.summary.eval }, { eval: base.summary.eval }],
      },
    } as unknown as ExperimentRun;
    const text = twoStageRun([twoStage]);
    assert.match(
      text,
      /^a real ResNet-18 \(clip activations, basic blocks\) trained 3 epochs from scratch, then Bi-Real-18 8 epochs from its weights, Adam: /,
    );
    assert.match(text, /different from the paper's recipe/);
    assert.match(text, /No from-scratch run of Bi-Real-18 at 224 px of the same length/);
    const markdown = resultsMarkdown((name) => (name === 'headline-224' ? [twoStage] : []));
    assert.match(
      markdown,
      /^\*\*A two-stage run at 224 px\*\* \(imagenette at 32 px, 3 \+ 8 epochs, full width\): a real/,
    );
    assert.doesNotMatch(markdown, /The paper's two-stage recipe/);
    assert.match(
      twoStageRun([twoStage], [run('bi-real', 0, 0.7)]),
      /Bi-Real-18 trained from scratch for the same 11 epochs \(`scratch-224`\): 70\.0% top-1, seed 0\.$/,
    );
  });

  it('every download of a recorded seed 0 is a deploy file in the repository', () => {
    for (const [experiment, models] of Object.entries(RESULTS_TABLES)) {
      for (const { variant, download } of models) {
        const file = deployFile(experiment, variant);
        const recorded = existsSync(`results/experiments/${experiment}/${variant}-s0`);
        if (!download || !recorded) continue;
        assert.ok(existsSync(file), `${file} is missing: export it with \`bireal export\``);
        assert.ok(decodeDeployFile(readFileSync(file), variant).header.ops.length > 0);
      }
    }
  });

  it('pairs the gaps by seed, per setting, and signs them', () => {
    const at = { imageSize: 64, width: 0.5, lr: 4e-3 };
    const wide = { ...at, width: 1 };
    const cells = regimeCells([
      run('bi-real-w0.5', 0, 0.6, 0.9, at),
      run('bi-real-w0.5', 1, 0.62, 0.9, at),
      run('plain-resnet-w0.5', 0, 0.65, 0.9, at),
      run('plain-resnet-w0.5', 1, 0.66, 0.9, at),
      run('clipped-ste-w0.5', 1, 0.6, 0.9, at),
      run('bi-real-w1', 0, 0.7, 0.9, wide),
      run('clipped-ste-w1', 0, 0.68, 0.9, wide),
      run('real-relu', 0, 0.8, 0.9, wide),
      run('bi-real', 0, 0.1, 0.9, wide),
    ]);
    assert.deepEqual(
      cells.map((c) => [c.width, c.runs.length]),
      [
        [0.5, 5],
        [1, 2],
      ],
    );
    const [half, full] = cells;
    assert.ok(half && full);
    assert.deepEqual(
      gapBySeed(half, 'plain-resnet').map((g) => g.toFixed(6)),
      ['-5.000000', '-4.000000'],
    );
    assert.deepEqual(
      gapBySeed(half, 'clipped-ste').map((g) => g.toFixed(6)),
      ['2.000000'],
    );
    assert.deepEqual(gapBySeed(full, 'plain-resnet'), []);
    assert.equal(formatGap([-5, -4]), '−4.5 ± 0.7');
    assert.equal(formatGap([2]), '+2.0');
    assert.equal(formatGap([]), '-');
    const table = rows(regimeTable(cells));
    assert.deepEqual(table[2], [
      '| 64 px, width 0.5 (32-256 channels), 6 epochs, 10 classes',
      '61.0 ± 1.4',
      '65.5 ± 0.7',
      '60.0',
      '−4.5 ± 0.7',
      '+2.0',
      '0, 1 |',
    ]);
    assert.match(regimeTable(cells, true), /64-512 channels\), 6 epochs, 10 classes, Adam 4e-3 \|/);
  });
});
