import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXPERIMENTS,
  experimentRecipe,
  loadExperiment,
  runExperiment,
} from '../src/experiments/index.js';

describe('experiments', () => {
  it('builds one valid recipe per variant, changing only the first trained stage model and lr, and the classes', () => {
    for (const [name, experiment] of Object.entries(EXPERIMENTS)) {
      const full = Object.entries(experiment.variants).filter(([, v]) => v.stages === undefined);
      const recipes = full.map(([v]) => experimentRecipe(name, v, 0));
      const unchanged = recipes.map((r) =>
        JSON.stringify({
          ...r,
          name: '',
          dataset: { ...r.dataset, classes: null },
          stages: r.stages.map((s, i) =>
            i === 0 ? { ...s, model: null, optimizer: { ...s.optimizer, lr: null } } : s,
          ),
        }),
      );
      assert.equal(
        new Set(unchanged).size,
        1,
        `${name}: variants differ beyond model, lr and classes`,
      );
      assert.equal(
        new Set(
          recipes.map((r) =>
            JSON.stringify([r.stages[0]?.model, r.stages[0]?.optimizer.lr, r.dataset.classes]),
          ),
        ).size,
        recipes.length,
        `${name}: two variants train the same`,
      );
    }
    assert.deepEqual(experimentRecipe('regime-map-64', 'clipped-ste-w0.5', 0).stages[0]?.model, {
      name: 'bireal18',
      options: { width: 0.5, estimator: 'clipped-ste' },
    });
    const slow = experimentRecipe('lr-sensitivity', 'plain-resnet-lr2.5e-4', 0).stages[0];
    assert.equal(slow?.optimizer.lr, 2.5e-4);
    assert.equal(slow?.model.name, 'plain-binary-resnet18');
    const fewer = experimentRecipe('regime-classes-64', 'clipped-ste-c2', 1);
    assert.deepEqual(fewer.dataset.classes, ['n01440764', 'n02102040']);
    assert.equal(fewer.stages[0]?.epochs, 16);
    const plain = experimentRecipe('shortcut', 'plain', 2);
    assert.equal(plain.stages[0]?.model.name, 'plain-binary-resnet18');
    assert.equal(plain.seed, 2);
    assert.deepEqual(experimentRecipe('estimators', 'ste', 0).stages[0]?.model.options, {
      width: 0.25,
      estimator: 'ste',
    });
  });

  it('trains the stages a variant names, the first trained one starting from scratch', () => {
    const [pretrained, scratch] = ['clip', 'scratch'].map((v) =>
      experimentRecipe('clip-pretraining', v, 0),
    );
    assert.deepEqual(
      pretrained?.stages.map((s) => [s.name, s.init]),
      [
        ['real', 'none'],
        ['binary', 'previous'],
      ],
    );
    assert.deepEqual(
      scratch?.stages.map((s) => [s.name, s.init]),
      [['binary', 'none']],
    );
    assert.deepEqual(scratch?.stages[0]?.model, pretrained?.stages[1]?.model);
  });

  it('shrinks quick recipes to a few batches at 32 px', () => {
    const quick = experimentRecipe('estimators', 'approx-sign', 0, true);
    assert.equal(quick.dataset.imageSize, 32);
    assert.equal(quick.limitBatches, 3);
    assert.equal(quick.stages[0]?.epochs, 1);
    assert.match(quick.name, /-quick$/);
  });

  it('names unknown experiments, variants and missing recordings', async () => {
    assert.throws(() => experimentRecipe('nope', 'x', 0), /unknown experiment 'nope'; valid: /);
    assert.throws(() => experimentRecipe('estimators', 'x', 0), /no variant 'x'; valid: ste/);
    const dir = await mkdtemp(join(tmpdir(), 'bireal-exp-'));
    assert.throws(() => loadExperiment('estimators', dir), /bireal experiment estimators/);
  });
});

describe('finished runs are reused', () => {
  it('finds a twin recorded under another experiment, past stray files, and records it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bireal-twin-'));
    const results = join(root, 'results');
    for (const variant of ['bireal', 'plain']) {
      const dir = join(results, 'other-experiment', `${variant}-s0`);
      mkdirSync(dir, { recursive: true });
      const recipe = experimentRecipe('shortcut', variant, 0);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...recipe, name: 'elsewhere' }));
      writeFileSync(join(dir, 'summary.json'), JSON.stringify({ eval: { top1: 0.5 } }));
      writeFileSync(join(dir, 'metrics.jsonl'), '{"type":"epoch","epoch":1}\n');
    }
    writeFileSync(join(results, 'README.md'), '# a file among the experiment folders\n');
    const runs = await runExperiment('shortcut', {
      seeds: [0],
      runsDir: join(root, 'runs'),
      recordDir: results,
    });
    assert.deepEqual(
      runs.map((r) => [r.variant, r.summary.eval.top1]),
      [
        ['bireal', 0.5],
        ['plain', 0.5],
      ],
    );
    assert.ok(existsSync(join(results, 'shortcut', 'plain-s0', 'metrics.jsonl')));
    const chosen = await runExperiment('shortcut', {
      seeds: [0],
      variants: ['plain'],
      runsDir: join(root, 'runs'),
      recordDir: results,
    });
    assert.deepEqual(
      chosen.map((r) => r.variant),
      ['plain'],
    );
    await assert.rejects(
      runExperiment('shortcut', { variants: ['plain', 'nope'], runsDir: join(root, 'runs') }),
      /experiment shortcut has no variant 'nope'; valid: bireal, plain/,
    );
  });
});
