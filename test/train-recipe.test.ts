/** Tests of src/train/recipe.ts and schedule.ts: validation of recipes and learning-rate values. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecipeError, loadRecipe, parseRecipe, withOverrides } from '../src/train/recipe.js';
import { baseLearningRate, learningRate } from '../src/train/schedule.js';
import { tinyRecipe } from './train-helpers.js';

const configs = join(import.meta.dirname, '..', '..', 'configs');

/** A valid raw recipe with `change` applied to its first stage (or to the top level). */
function raw(stage: Record<string, unknown> = {}, top: Record<string, unknown> = {}): unknown {
  return {
    name: 'r',
    dataset: { train: 'cifar10:train', eval: 'cifar10:test', imageSize: 32 },
    stages: [
      {
        name: 's',
        model: { name: 'bireal18' },
        optimizer: { type: 'adam', lr: 0.001 },
        schedule: { type: 'linear' },
        epochs: 2,
        batchSize: 8,
        ...stage,
      },
    ],
    ...top,
  };
}

function rejects(value: unknown, message: RegExp): void {
  assert.throws(
    () => parseRecipe(value, 'x.json'),
    (e: unknown) => e instanceof RecipeError && message.test(e.message),
  );
}

describe('recipes', () => {
  it('loads and validates every config in configs/', async () => {
    const files = (await readdir(configs)).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 8, `configs: ${files.join(', ')}`);
    for (const file of files) {
      const recipe = await loadRecipe(join(configs, file));
      assert.equal(`${recipe.name}.json`, file, 'a config is named after its recipe');
      assert.ok(recipe.description.length > 0, file);
    }
  });

  it("encodes the authors' Adam recipe and the paper's two-stage recipe", async () => {
    const adam = await loadRecipe(join(configs, 'bireal18-imagenet-adam.json'));
    const [binary] = adam.stages;
    assert.deepEqual(binary?.optimizer, {
      type: 'adam',
      lr: 0.001,
      lrReferenceBatch: 512,
      weightDecay: 0,
    });
    assert.equal(binary?.labelSmoothing, 0.1);
    assert.equal(binary?.schedule.type, 'linear');
    const paper = await loadRecipe(join(configs, 'bireal18-imagenet-two-stage.json'));
    assert.deepEqual(
      paper.stages.map((s) => [
        s.name,
        s.model.name,
        s.model.options.block,
        s.model.options.activation,
        s.init,
      ]),
      [
        ['real', 'resnet18', 'bireal', 'relu', 'none'],
        ['leaky-clip', 'resnet18', 'bireal', 'leaky-clip', 'previous'],
        ['clip', 'resnet18', 'bireal', 'clip', 'previous'],
        ['binary', 'bireal18', undefined, undefined, 'previous'],
      ],
    );
    const last = paper.stages[3];
    assert.deepEqual(last?.optimizer, { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0 });
    assert.deepEqual(last?.schedule, {
      type: 'step',
      milestones: [10, 15],
      gamma: 0.1,
      warmupEpochs: 0,
    });
    assert.equal(last?.epochs, 20);
    assert.equal(last?.batchSize, 128);
  });

  it('fills in defaults and is idempotent', () => {
    const recipe = parseRecipe(raw());
    assert.equal(recipe.seed, 0);
    assert.equal(recipe.dataset.workers, 2);
    assert.equal(recipe.stages[0]?.init, 'none');
    assert.equal(recipe.stages[0]?.labelSmoothing, 0);
    assert.deepEqual(parseRecipe(recipe), recipe);
  });

  it('rejects bad recipes with an error naming the file and the field', () => {
    rejects(
      raw({ model: { name: 'bireal19' } }),
      /x\.json: stages\[0\]\.model\.name must be one of bireal18, bireal34/,
    );
    rejects(
      raw({ model: { name: 'bireal18', options: { widht: 1 } } }),
      /stages\[0\]\.model\.options\.widht is not a known field/,
    );
    rejects(
      raw({ model: { name: 'bireal18', options: { classes: 10 } } }),
      /options\.classes is not a known field/,
    );
    rejects(
      raw({ model: { name: 'bireal18', options: { estimator: 'sign' } } }),
      /options\.estimator must be one of ste, clipped-ste, approx-sign/,
    );
    rejects(
      raw({ optimizer: { type: 'adam', lr: -1 } }),
      /stages\[0\]\.optimizer\.lr must be a positive number, got -1/,
    );
    rejects(
      raw({ optimizer: { type: 'adam', lr: 0.1, momentum: 0.9 } }),
      /optimizer\.momentum is not a known field/,
    );
    rejects(
      raw({ optimizer: { type: 'rmsprop', lr: 0.1 } }),
      /optimizer\.type must be one of adam, sgd/,
    );
    rejects(
      raw({ schedule: { type: 'step', milestones: [15, 10] } }),
      /schedule\.milestones must be increasing positive integers/,
    );
    rejects(raw({ epochs: 1.5 }), /stages\[0\]\.epochs must be a positive integer, got 1.5/);
    rejects(raw({ batchSize: '8' }), /stages\[0\]\.batchSize must be a positive integer, got "8"/);
    rejects(raw({ labelSmoothing: 1 }), /labelSmoothing must be a number in \[0, 1\)/);
    rejects(raw({ init: 'previous' }), /stages\[0\]\.init cannot be 'previous' in the first stage/);
    rejects(raw({}, { stages: [] }), /stages must be a non-empty array/);
    rejects(
      raw({}, { dataset: { train: 'cifar10', eval: 'cifar10:test', imageSize: 32 } }),
      /dataset\.train must be a dataset spec 'NAME:SPLIT', got "cifar10"/,
    );
    rejects(
      raw({}, { dataset: { train: 'a:b', eval: 'a:c', imageSize: 32, scale: [0.5, 0.2] } }),
      /dataset\.scale must be \[min, max\]/,
    );
    rejects(
      raw({}, { dataset: { train: 'a:b', eval: 'a:c', imageSize: 32, channels: 2 } }),
      /dataset\.channels must be one of 1, 3/,
    );
    for (const classes of [['tench'], ['tench', 'tench'], 'tench,church', ['tench', 3]]) {
      rejects(
        raw({}, { dataset: { train: 'a:b', eval: 'a:c', imageSize: 32, classes } }),
        /dataset\.classes must be 2 or more distinct class names/,
      );
    }
    const subset = { train: 'a:b', eval: 'a:c', imageSize: 32, classes: ['tench', 'church'] };
    assert.deepEqual(parseRecipe(raw({}, { dataset: subset })).dataset.classes, subset.classes);
    rejects(raw({}, { epochs: 3 }), /^x\.json: epochs is not a known field/);
    rejects(raw({}, { name: 'a/b' }), /name must be letters, digits/);
    const stage = (raw() as { stages: object[] }).stages[0];
    rejects(raw({}, { stages: [stage, stage] }), /stages must have unique names, got "s"/);
    rejects([], /x\.json: the recipe must be an object/);
  });

  it('names the file when it is missing or not JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bireal-recipe-'));
    const file = join(dir, 'broken.json');
    await writeFile(file, '{ "name": ');
    await assert.rejects(loadRecipe(file), /broken\.json is not valid JSON/);
    await assert.rejects(loadRecipe(join(dir, 'none.json')), /cannot read recipe .*none\.json/);
  });

  it('applies command-line overrides to every stage', () => {
    const recipe = withOverrides(tinyRecipe(), { epochs: 5, seed: 9, limitBatches: 2 });
    assert.deepEqual(
      recipe.stages.map((s) => s.epochs),
      [5],
    );
    assert.equal(recipe.seed, 9);
    assert.equal(recipe.limitBatches, 2);
    assert.throws(() => withOverrides(recipe, { epochs: 0 }), /epochs must be a positive integer/);
  });
});

describe('learning-rate schedules', () => {
  const stage = (schedule: object, extra: object = {}) =>
    parseRecipe(raw({ schedule, epochs: 4, ...extra })).stages[0]!;

  it('decays linearly to 0 over the stage, per step', () => {
    const s = stage({ type: 'linear' });
    const lrs = Array.from({ length: 8 }, (_, i) => learningRate(s, i, 2));
    const expected = [8, 7, 6, 5, 4, 3, 2, 1].map((k) => (0.001 * k) / 8);
    lrs.forEach((lr, i) => assert.ok(Math.abs(lr - (expected[i] as number)) < 1e-12, `step ${i}`));
  });

  it('warms up linearly, then decays', () => {
    const s = stage({ type: 'linear', warmupEpochs: 1 });
    const lrs = Array.from({ length: 8 }, (_, i) => learningRate(s, i, 2));
    assert.deepEqual(
      lrs.map((lr) => +(lr / 0.001).toFixed(6)),
      [0.5, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6].map((v) => +v.toFixed(6)),
    );
  });

  it("steps down by gamma at the milestone epochs (the paper's x0.1 at 10 and 15 of 20)", () => {
    const s = stage(
      { type: 'step', milestones: [10, 15] },
      { epochs: 20, optimizer: { type: 'sgd', lr: 0.01 } },
    );
    const perEpoch = 3;
    const at = (epoch: number) => learningRate(s, epoch * perEpoch, perEpoch);
    assert.equal(at(0), 0.01);
    assert.equal(learningRate(s, 10 * perEpoch - 1, perEpoch), 0.01); // last step of epoch 10
    assert.ok(Math.abs(at(10) - 0.001) < 1e-15);
    assert.ok(Math.abs(at(14) - 0.001) < 1e-15);
    assert.ok(Math.abs(at(15) - 0.0001) < 1e-15);
    assert.ok(Math.abs(at(19) - 0.0001) < 1e-15);
  });

  it('scales the base rate by batch / lrReferenceBatch', () => {
    const s = stage(
      { type: 'linear' },
      { batchSize: 128, optimizer: { type: 'adam', lr: 0.001, lrReferenceBatch: 512 } },
    );
    assert.equal(baseLearningRate(s), 0.00025);
    assert.equal(learningRate(s, 0, 10), 0.00025);
  });
});
