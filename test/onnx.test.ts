import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import ort from 'onnxruntime-node';
import { initBackend } from '../src/backend/index.js';
import { runExport } from '../src/cli/deploy.js';
import { UsageError } from '../src/cli/usage.js';
import {
  PackedNet,
  decodeDeployFile,
  deployToOnnx,
  exportModel,
  type DeployOp,
} from '../src/engine/index.js';
import { createModel, type ModelOptions } from '../src/models/index.js';
import { info, randomizeBatchNorm } from './engine-helpers.js';
import { relError } from './kernel-helpers.js';

/** Logits of an ONNX model on ONNX Runtime (one thread, every graph optimisation). */
async function onnxLogits(onnx: Uint8Array, images: tf.Tensor4D): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(onnx, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const input = new ort.Tensor('float32', images.dataSync() as Float32Array, images.shape);
  const { logits } = await session.run({ input });
  await session.release();
  assert.deepEqual(logits?.dims, [images.shape[0], 10]);
  return logits?.data as Float32Array;
}

/** Zeroes the stem BatchNorm of every other channel, so that exact zeros reach a sign. */
function zeroHalfTheStem(model: tfl.LayersModel): void {
  const bn = model.getLayer('stem_bn');
  const [gamma, beta, mean, variance] = bn.getWeights().map((w) => w.arraySync() as number[]);
  const half = (v: number, i: number) => (i % 2 === 0 ? 0 : v);
  bn.setWeights([gamma!.map(half), beta!.map(half), mean!, variance!].map((v) => tf.tensor1d(v)));
}

describe('ONNX export', () => {
  before(async () => {
    await initBackend({ log: false });
  });

  const cases: { name: string; size: number; options: ModelOptions; zeros?: boolean }[] = [
    { name: 'resnet18', size: 50, options: { width: 0.125 } },
    // Clip, activations on their own, average-pooled shortcuts.
    { name: 'resnet18', size: 36, options: { width: 0.125, block: 'bireal', activation: 'clip' } },
    // Odd sizes (50 -> 25 -> 13 -> 7 -> 4 -> 2): every asymmetric 'same' pad; sign(0) = +1.
    { name: 'bireal18', size: 50, options: { width: 0.25 }, zeros: true },
    { name: 'plain-binary-resnet18', size: 32, options: { width: 0.125, smallInput: true } },
  ];
  for (const { name, size, options, zeros } of cases) {
    it(`gives tfjs's logits on ONNX Runtime: ${name} at ${size} px, ${JSON.stringify(options)}`, async () => {
      const model = createModel(name, { classes: 10, inputSize: size, seed: 3, ...options });
      randomizeBatchNorm(model, 4);
      if (zeros) zeroHalfTheStem(model);
      const images = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const expected = tf.tidy(() => (model.predict(images) as tf.Tensor).dataSync());
      const onnx = deployToOnnx(decodeDeployFile(exportModel(model, info(size))));
      const logits = await onnxLogits(onnx, images);
      const error = relError(logits, expected);
      assert.ok(error < 1e-4, `relative error ${error}: ${logits} vs ${expected}`);
      images.dispose();
      model.dispose();
    });
  }

  it('converts a deploy file on the command line, with its header as metadata', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bireal-onnx-'));
    const size = 32;
    const model = createModel('bireal18', { classes: 10, inputSize: size, width: 0.125, seed: 7 });
    randomizeBatchNorm(model, 8);
    const labels = Array.from({ length: 10 }, (_, i) => `class ${i}`);
    const deployFile = join(dir, 'm.bireal');
    await writeFile(deployFile, exportModel(model, { ...info(size), labels }));
    model.dispose();
    const out = join(dir, 'm.onnx');
    await runExport(['--model', deployFile, '--format', 'onnx', '--out', out]);
    const onnx = await readFile(out);
    assert.ok(onnx.includes(JSON.stringify(labels)), 'the labels are in the metadata');
    // The ONNX model and the packed engine agree.
    const image = tf.randomNormal([1, size, size, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const net = await PackedNet.load(await readFile(deployFile));
    const engine = net.run(image.dataSync() as Float32Array);
    const error = relError(await onnxLogits(onnx, image), engine);
    assert.ok(error < 1e-4, `relative error ${error}`);
    image.dispose();

    for (const args of [
      ['--model', deployFile, '--out', out], // a deploy file already
      ['--model', deployFile, '--format', 'tflite', '--out', out],
      ['--model', deployFile, '--checkpoint', 'x', '--format', 'onnx', '--out', out],
      ['--model', join(dir, 'missing.bireal'), '--format', 'onnx', '--out', out],
      ['--model', deployFile, '--format', 'onnx'],
    ]) {
      await assert.rejects(runExport(args), UsageError, args.join(' '));
    }
  });

  it('names the op that reads an unknown tensor', () => {
    const model = createModel('resnet18', { classes: 10, inputSize: 32, width: 0.125 });
    const file = decodeDeployFile(exportModel(model, info(32)));
    model.dispose();
    const ops = file.header.ops as DeployOp[];
    ops[1] = { ...ops[1]!, input: 'nowhere' };
    assert.throws(() => deployToOnnx(file), /reads 'nowhere' before it is computed/);
  });
});
