/**
 * Tests of the trainer (src/train/trainer.ts) on a tiny Bi-Real-18 and a synthetic dataset:
 * run folder contents, resume equivalence, multi-stage runs, divergence handling, no leaks.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import type { DatasetSplit } from '../src/data/types.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { createOptimizer, type ScheduledOptimizer } from '../src/train/optimizer.js';
import { Progress, formatDuration } from '../src/train/progress.js';
import { parseRecipe, type Recipe } from '../src/train/recipe.js';
import { TrainingDivergedError, train, type RunSummary } from '../src/train/trainer.js';
import { openerOf, syntheticSplit, tinyRecipe, type SyntheticOptions } from './train-helpers.js';

const testSplit = () => syntheticSplit({ id: 'synthetic:test', size: 32 });

/** A fresh run folder. */
async function runDir(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'bireal-train-')), 'run');
}

async function trainOn(
  recipe: Recipe,
  out: string,
  data: SyntheticOptions = {},
  resume = false,
  replicas = 1,
) {
  const open = openerOf(syntheticSplit({ size: 64, ...data }), testSplit());
  return train(recipe, { out, resume, openDataset: open, progress: null, replicas });
}

async function metrics(dir: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(dir, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Every weight of the checkpoint, by name. */
async function weightsOf(path: string): Promise<Map<string, Float32Array>> {
  const { model, optimizerWeights } = await loadCheckpoint(path);
  const weights = new Map(
    model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]),
  );
  for (const w of optimizerWeights)
    weights.set(`optimizer ${w.name}`, w.tensor.dataSync() as Float32Array);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  model.dispose();
  return weights;
}

function assertClose(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
  tolerance: number,
): void {
  assert.deepEqual(
    [...a.keys()].filter((k) => !k.startsWith('optimizer')),
    [...b.keys()].filter((k) => !k.startsWith('optimizer')),
  );
  for (const [name, x] of a) {
    if (name.startsWith('optimizer')) continue; // slot names carry the process's variable names
    const y = b.get(name) as Float32Array;
    let worst = 0;
    x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (y[i] as number)))));
    assert.ok(worst <= tolerance, `${name} differs by ${worst}`);
  }
  const slots = (m: Map<string, Float32Array>) =>
    [...m].filter(([k]) => k.startsWith('optimizer')).map(([, v]) => v);
  slots(a).forEach((x, i) => {
    const y = slots(b)[i] as Float32Array;
    assert.equal(x.length, y.length);
    x.forEach((v, j) =>
      assert.ok(Math.abs(v - (y[j] as number)) <= tolerance, `optimizer slot ${i}`),
    );
  });
}

/** A synthetic split whose `call`-th epoch pass (0-based) fails at `batch`, as if killed there. */
function crashing(call: number, batch: number): DatasetSplit {
  const split = syntheticSplit({ size: 64 });
  let calls = 0;
  return {
    ...split,
    async *batches(o, epoch, start) {
      const n = calls++;
      for await (const b of split.batches(o, epoch, start)) {
        if (n === call && b.index === batch) throw new Error('killed');
        yield b;
      }
    },
  };
}

const threeStages = (): Recipe =>
  parseRecipe({
    name: 'stages',
    seed: 5,
    dataset: { train: 'synthetic:train', eval: 'synthetic:test', imageSize: 16, workers: 0 },
    limitBatches: 2,
    stages: [
      { name: 'real', model: { name: 'resnet18', options: { smallInput: true, width: 0.125 } } },
      {
        name: 'clip',
        init: 'previous',
        model: {
          name: 'resnet18',
          options: { smallInput: true, width: 0.125, activation: 'clip' },
        },
      },
      {
        name: 'binary',
        init: 'previous',
        model: { name: 'bireal18', options: { smallInput: true, width: 0.125 } },
        optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 },
        schedule: { type: 'step', milestones: [1] },
      },
    ].map((s) => ({
      optimizer: { type: 'adam', lr: 0.005 },
      schedule: { type: 'linear' },
      epochs: 1,
      batchSize: 16,
      ...s,
    })),
  });

before(async () => {
  // The tfjs-op training steps: data-parallel replicas (which sum BatchNorm statistics across
  // threads) are compared with one thread, and a 1-bit net flips signs under any change of
  // float rounding, such as the native batch norm's.
  await initBackend({ log: false, native: false });
});

describe('trainer', () => {
  it('writes config, metrics, a checkpoint and a summary, learns, and leaks no tensors', async () => {
    const out = await runDir();
    const tensors = tf.memory().numTensors;
    const summary = await trainOn(tinyRecipe(), out);
    assert.equal(tf.memory().numTensors, tensors);
    const saved = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
    assert.deepEqual(saved, JSON.parse(JSON.stringify(summary)));
    assert.equal(summary.seed, 3);
    assert.match(summary.commit, /^([0-9a-f]{40}|unknown)$/);
    assert.match(summary.backend, /wasm|cpu|tensorflow/);
    assert.ok(summary.wallSeconds > 0);
    assert.ok(summary.eval.top1 > 0.5, `top-1 ${summary.eval.top1} on 4 learnable classes`);
    assert.deepEqual(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')), tinyRecipe());
    const lines = await metrics(out);
    assert.deepEqual(
      lines.map((l) => l.type),
      [
        'start',
        'stage',
        ...Array(4).fill('step'),
        'epoch',
        ...Array(4).fill('step'),
        'epoch',
        'eval',
        'end',
      ],
    );
    const step = lines[2] as Record<string, number>;
    for (const key of ['loss', 'accuracy', 'lr', 'imagesPerSecond'])
      assert.equal(typeof step[key], 'number', key);
    // The share of binary weights that changed sign in each epoch (Adam at lr 0.01 flips some).
    for (const epoch of lines.filter((l) => l.type === 'epoch')) {
      const flips = epoch.weightSignFlips as number;
      assert.ok(flips > 0 && flips < 0.5, `weightSignFlips ${flips}`);
    }
    const { state } = await loadCheckpoint(join(out, 'checkpoints/1-binary.ckpt'));
    assert.deepEqual([state.stage, state.epoch, state.step], [0, 2, 8]);
    await assert.rejects(trainOn(tinyRecipe(), out), /already holds a run/);
  });

  for (const [optimizer, replicas] of [
    [{ type: 'adam', lr: 0.01 }, 1],
    [{ type: 'sgd', lr: 0.05, momentum: 0.9 }, 1],
    // The replicas once freed the resumed optimizer's moments: the next checkpoint failed.
    [{ type: 'adam', lr: 0.01 }, 2],
  ] as const) {
    it(`resumes to the same weights as an uninterrupted run (${optimizer.type}, ${replicas} replica${replicas > 1 ? 's' : ''})`, async () => {
      const recipe = parseRecipe({
        ...tinyRecipe(),
        stages: [{ ...tinyRecipe().stages[0], optimizer, epochs: 3 }],
      });
      const straight = await runDir();
      await trainOn(recipe, straight, {}, false, replicas);
      const resumed = await runDir();
      const open = openerOf(crashing(1, 2), testSplit());
      await assert.rejects(
        train(recipe, { out: resumed, openDataset: open, progress: null, replicas }),
        /killed/,
      );
      assert.equal(
        (await loadCheckpoint(join(resumed, 'checkpoints/1-binary.ckpt'))).state.epoch,
        1,
      );
      await assert.rejects(trainOn(withEpochs(recipe, 4), resumed, {}, true), /recipe differs/);
      await trainOn(recipe, resumed, {}, true, replicas);
      // Equal, not close: the same arithmetic from the same restored state.
      const ckpt = 'checkpoints/1-binary.ckpt';
      assertClose(await weightsOf(join(straight, ckpt)), await weightsOf(join(resumed, ckpt)), 0);
      // metrics.jsonl was rewound to the checkpoint: the killed epoch's steps appear once.
      const steps = (await metrics(resumed)).filter((l) => l.type === 'step').map((l) => l.step);
      assert.deepEqual(
        steps,
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      const losses = async (dir: string) =>
        (await metrics(dir)).filter((l) => l.type === 'step').map((l) => l.loss as number);
      const [a, b] = [await losses(straight), await losses(resumed)];
      assert.deepEqual(a, b);
    });
  }

  it('an Adam restored from its weights takes the same steps as the original', async () => {
    const optimizers = [0, 1].map(() =>
      createOptimizer({ type: 'adam', lr: 0.01, weightDecay: 0 }, 0.01),
    );
    const [original, restored] = optimizers as [ScheduledOptimizer, ScheduledOptimizer];
    const [a, b] = [0, 1].map(() => tf.variable(tf.tensor1d([0.5, -0.25, 1, 2e-3]))) as [
      tf.Variable,
      tf.Variable,
    ];
    const g = tf.tensor1d([0.1, -0.2, 0.3, 1e-4]);
    for (let step = 0; step < 60; step++) original.applyGradients({ [a.name]: g });
    b.assign(a);
    const saved = await original.getWeights();
    await restored.setWeights(saved);
    tf.dispose(saved[0]?.tensor); // the iteration count; the rest are the original's own slots
    for (let step = 0; step < 5; step++) {
      original.applyGradients({ [a.name]: g });
      restored.applyGradients({ [b.name]: g });
      assert.deepEqual(b.dataSync(), a.dataSync(), `step ${step + 1} after the restore`);
    }
    optimizers.forEach((o) => o.dispose());
    tf.dispose([a, b, g]);
  });

  it('trains with 2 data-parallel replicas to the weights of 1 (sgd)', async () => {
    const recipe = parseRecipe({
      ...tinyRecipe(),
      stages: [
        {
          ...tinyRecipe().stages[0],
          optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 },
          epochs: 2,
        },
      ],
    });
    const [one, two] = [await runDir(), await runDir()];
    await trainOn(recipe, one);
    const open = openerOf(syntheticSplit({ size: 64 }), testSplit());
    await train(recipe, { out: two, openDataset: open, progress: null, replicas: 2 });
    const ckpt = 'checkpoints/1-binary.ckpt';
    assertClose(await weightsOf(join(one, ckpt)), await weightsOf(join(two, ckpt)), 1e-4);
  });

  it('runs a multi-stage recipe in one folder, each stage initialised from the previous', async () => {
    const out = await runDir();
    const summary = await trainOn(threeStages(), out);
    assert.deepEqual(
      summary.stages.map((s) => [s.name, s.model, s.epochs, s.checkpoint]),
      [
        ['real', 'resnet18', 1, 'checkpoints/1-real.ckpt'],
        ['clip', 'resnet18', 1, 'checkpoints/2-clip.ckpt'],
        ['binary', 'bireal18', 1, 'checkpoints/3-binary.ckpt'],
      ],
    );
    assert.equal(summary.stages[0]?.init, null);
    for (const stage of summary.stages.slice(1)) {
      const init = stage.init!;
      assert.deepEqual([init.missing, init.mismatched, init.unused], [[], [], []], stage.name);
      assert.equal(init.copied.length, 41, stage.name); // every layer with weights
    }
    for (const stage of summary.stages) {
      assert.ok(existsSync(join(out, stage.checkpoint)), stage.checkpoint);
      assert.equal(typeof stage.eval?.top1, 'number');
    }
    const final = await loadCheckpoint(join(out, 'checkpoints/3-binary.ckpt'));
    assert.equal(final.model.getLayer('s1_conv1').getClassName(), 'BinaryConv2D');
    final.model.dispose();
    tf.dispose(final.optimizerWeights.map((w) => w.tensor));
    const stageLines = (await metrics(out)).filter((l) => l.type === 'stage');
    assert.deepEqual(
      stageLines.map((l) => l.stage),
      ['real', 'clip', 'binary'],
    );
  });

  it('resumes a multi-stage run in the stage where it stopped', async () => {
    const recipe = threeStages();
    const straight = await runDir();
    await trainOn(recipe, straight);
    const resumed = await runDir();
    // Stage 'real' trains; the crash comes in stage 'clip' (the second epoch pass).
    const open = openerOf(crashing(1, 1), testSplit());
    await assert.rejects(
      train(recipe, { out: resumed, openDataset: open, progress: null }),
      /killed/,
    );
    assert.ok(existsSync(join(resumed, 'checkpoints/1-real.ckpt')));
    assert.ok(!existsSync(join(resumed, 'checkpoints/2-clip.ckpt')));
    const summary = await trainOn(recipe, resumed, {}, true);
    assert.deepEqual(
      summary.stages.map((s) => s.name),
      ['real', 'clip', 'binary'],
    );
    const ckpt = 'checkpoints/3-binary.ckpt';
    assertClose(await weightsOf(join(straight, ckpt)), await weightsOf(join(resumed, ckpt)), 1e-5);
    const stageLines = (await metrics(resumed)).filter((l) => l.type === 'stage');
    assert.deepEqual(
      stageLines.map((l) => l.stage),
      ['real', 'clip', 'binary'],
    );
  });

  it('stops on a NaN loss naming the step, keeping the last good checkpoint', async () => {
    const out = await runDir();
    await assert.rejects(
      trainOn(tinyRecipe(), out, { nanAt: { epoch: 1, batch: 1 } }),
      (e: unknown) =>
        e instanceof TrainingDivergedError &&
        /diverged at step 6 \(stage 1\/1 'binary', epoch 2\/2, batch 2\): loss is NaN/.test(
          e.message,
        ) &&
        /last good checkpoint, .*1-binary\.ckpt, is kept/.test(e.message),
    );
    const checkpoint = await loadCheckpoint(join(out, 'checkpoints/1-binary.ckpt'));
    assert.deepEqual([checkpoint.state.epoch, checkpoint.state.step], [1, 4]);
    const out1 = checkpoint.model.predict(tf.zeros([1, 16, 16, 3])) as tf.Tensor;
    assert.ok(out1.dataSync().every(Number.isFinite));
    tf.dispose([out1, ...checkpoint.optimizerWeights.map((w) => w.tensor)]);
    checkpoint.model.dispose();
    assert.ok(!existsSync(join(out, 'summary.json')));
    const last = (await metrics(out)).at(-1);
    assert.deepEqual(last, { type: 'diverged', stage: 'binary', epoch: 2, step: 6, loss: 'NaN' });

    const early = await runDir();
    await assert.rejects(
      trainOn(tinyRecipe(), early, { nanAt: { epoch: 0, batch: 0 } }),
      /step 1 .*no checkpoint had been written yet/,
    );
  });

  it('rejects damaged checkpoints with a clear error', async () => {
    const out = await runDir();
    await trainOn(withEpochs(tinyRecipe(), 1), out);
    const path = join(out, 'checkpoints/1-binary.ckpt');
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(loadCheckpoint(path), /truncated or damaged checkpoint/);
    await writeFile(path, 'hello');
    await assert.rejects(loadCheckpoint(path), /is not a bireal checkpoint/);
    await assert.rejects(
      trainOn(withEpochs(tinyRecipe(), 1), out, {}, true),
      /not a bireal checkpoint/,
    );
  });

  it('feeds a one-channel dataset to a one-channel model', async () => {
    const out = await runDir();
    const open = openerOf(
      syntheticSplit({ size: 32, channels: 1 }),
      syntheticSplit({ id: 'synthetic:test', size: 16, channels: 1 }),
    );
    const recipe = withEpochs(tinyRecipe(), 1);
    await train(recipe, { out, openDataset: open, progress: null });
    const { model, optimizerWeights } = await loadCheckpoint(
      join(out, 'checkpoints/1-binary.ckpt'),
    );
    assert.deepEqual(model.inputs[0]?.shape, [null, 16, 16, 1]);
    model.dispose();
    tf.dispose(optimizerWeights.map((w) => w.tensor));
  });
});

function withEpochs(recipe: Recipe, epochs: number): Recipe {
  return parseRecipe({ ...recipe, stages: recipe.stages.map((s) => ({ ...s, epochs })) });
}

describe('progress', () => {
  const stream = (isTTY: boolean) => {
    const chunks: string[] = [];
    const write = (chunk: string) => chunks.push(chunk) > 0;
    return { chunks, stream: { isTTY, columns: 12, write } as unknown as NodeJS.WriteStream };
  };

  it('rewrites one line in place on a terminal, fitted to its width', () => {
    const { chunks, stream: tty } = stream(true);
    const progress = new Progress(tty);
    progress.update('step 1 of 100 loss 2.3');
    progress.update('step 2');
    progress.log('epoch 1 done');
    assert.deepEqual(chunks, ['\rstep 1 of 1', '\rstep 2     ', '\r      \r', 'epoch 1 done\n']);
  });

  it('prints periodic lines elsewhere', () => {
    const { chunks, stream: file } = stream(false);
    const progress = new Progress(file, 60_000);
    progress.update('a');
    progress.update('b'); // within the interval: skipped
    progress.log('c');
    progress.end();
    assert.deepEqual(chunks, ['a\n', 'c\n']);
    assert.equal(formatDuration(3725), '1h02m');
    assert.equal(formatDuration(65), '1m05s');
  });
});
