import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { costSummary } from '../src/analysis/summary.js';
import { openDataset } from '../src/data/index.js';
import { BinaryConv2D } from '../src/layers/index.js';
import { createModel, type ModelOptions } from '../src/models/index.js';
import { exportModel, PackedNet, type DeployOp } from '../src/engine/index.js';
import { info, randomizeBatchNorm } from './engine-helpers.js';

const mirror = resolve(fileURLToPath(new URL('../..', import.meta.url)), '../shared/data');

/** The first `n` Imagenette validation photos at `size` px, normalised as in training. */
async function photos(size: number, n: number): Promise<Float32Array[]> {
  const split = await openDataset('imagenette:val', { mirror });
  try {
    for await (const batch of split.batches(
      { batchSize: n, imageSize: size, augment: false, seed: 0, workers: 0 },
      0,
    )) {
      const length = size * size * 3;
      return Array.from({ length: n }, (_, i) => batch.images.slice(i * length, (i + 1) * length));
    }
    throw new Error('no images');
  } finally {
    await split.close();
  }
}

/** Largest |a - b| relative to the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

/** The outputs of the named layers of `model` for one image. */
function layerValues(
  model: tfl.LayersModel,
  names: string[],
  image: Float32Array,
): Map<string, Float32Array> {
  const probe = tfl.model({
    inputs: model.inputs,
    outputs: names.map((name) => model.getLayer(name).output as tfl.SymbolicTensor),
  });
  const [size, , channels] = model.inputs[0]?.shape.slice(1) as number[];
  const outputs = tf.tidy(() => {
    const x = tf.tensor4d(image, [1, size as number, size as number, channels as number]);
    const result = probe.predict(x);
    return (Array.isArray(result) ? result : [result]).map((t) => t.dataSync() as Float32Array);
  });
  return new Map(names.map((name, i) => [name, outputs[i] as Float32Array]));
}

function residualOf(op: DeployOp): string | undefined {
  return op.op === 'binaryConv' ? op.residual : undefined;
}

/**
 * Runs every operation of the wasm engine (what browsers run) on the reference model's own input
 * to that layer and returns the worst relative error over operations: the per-layer exactness
 * check. The native kernels are checked against these wasm ones (engine-native.test.ts).
 */
async function checkEveryLayer(model: tfl.LayersModel, image: Float32Array, size: number) {
  const bytes = exportModel(model, info(size));
  const net = await PackedNet.load(bytes, undefined, undefined, { native: false });
  const { ops } = net.header;
  const names = [
    ...new Set(ops.flatMap((op) => [op.output, op.input, residualOf(op) ?? op.output])),
  ].filter((name) => name !== 'input');
  const reference = layerValues(model, names, image);
  reference.set('input', image);
  const errors: Record<string, number> = {};
  for (const [index, op] of ops.entries()) {
    net.write(op.input, reference.get(op.input) as Float32Array);
    const residual = residualOf(op);
    if (residual !== undefined) net.write(residual, reference.get(residual) as Float32Array);
    net.runOperation(index);
    errors[`${op.name} (${op.op})`] = relativeError(
      net.tensor(op.output),
      reference.get(op.output) as Float32Array,
    );
  }
  return { net, errors, kinds: new Set(ops.map((op) => op.op)) };
}

describe('packed 1-bit engine', () => {
  before(async () => {
    await initBackend({ log: false });
  });

  const cases: { name: string; size: number; options: ModelOptions }[] = [
    // 224-like geometry at a small width: even sizes all the way (56, 28, 14, 7).
    { name: 'bireal18', size: 112, options: { width: 0.125 } },
    // Odd sizes at every stage: 50 -> 25 -> 13 -> 7 -> 4 -> 2, and 1x1 at the end of 36.
    { name: 'bireal18', size: 50, options: { width: 0.25 } },
    { name: 'bireal34', size: 36, options: { width: 0.125 } },
    { name: 'plain-binary-resnet18', size: 50, options: { width: 0.125 } },
    { name: 'bireal18', size: 32, options: { width: 0.25, smallInput: true } },
    // The real-valued baselines: fused ReLU / clip after BN and after the residual add...
    { name: 'resnet18', size: 50, options: { width: 0.125 } },
    { name: 'resnet34', size: 36, options: { width: 0.125, activation: 'clip' } },
    // ...and activations on their own (Bi-Real topology with real weights).
    { name: 'resnet18', size: 36, options: { width: 0.125, block: 'bireal' } },
  ];
  for (const { name, size, options } of cases) {
    it(`matches tfjs layer by layer: ${name} at ${size} px, ${JSON.stringify(options)}`, async () => {
      const model = createModel(name, { classes: 10, inputSize: size, seed: 3, ...options });
      randomizeBatchNorm(model, 4);
      const [image] = await photos(size, 1);
      const { errors, kinds } = await checkEveryLayer(model, image as Float32Array, size);
      const worst = Object.entries(errors).sort((a, b) => b[1] - a[1])[0] as [string, number];
      assert.ok(worst[1] < 1e-5, `worst layer ${worst[0]}: relative error ${worst[1]}`);
      const expected = name.startsWith('resnet')
        ? ['conv', 'dense']
        : ['conv', 'binaryConv', 'dense'];
      for (const kind of expected) assert.ok(kinds.has(kind as DeployOp['op']), kind);
      if (options.block === 'bireal') assert.ok(kinds.has('activation'));
      model.dispose();
    });
  }

  it('gives the logits of the float-emulated tfjs model on real photos', async () => {
    const size = 64;
    const model = createModel('bireal18', { classes: 10, inputSize: size, width: 0.5, seed: 5 });
    randomizeBatchNorm(model, 6);
    const net = await PackedNet.load(exportModel(model, info(size)));
    for (const image of await photos(size, 4)) {
      const expected = tf.tidy(
        () =>
          (
            model.predict(tf.tensor4d(image, [1, size, size, 3])) as tf.Tensor
          ).dataSync() as Float32Array,
      );
      const logits = net.run(image);
      assert.ok(relativeError(logits, expected) < 1e-4, `logits ${logits} vs ${expected}`);
      assert.equal(net.top(logits, 1)[0]?.index, expected.indexOf(Math.max(...expected)));
    }
    model.dispose();
  });

  it('handles partial 64-bit words, stride 2 and every padding edge of a lone 1-bit conv', async () => {
    for (const [h, cin, stride] of [
      [7, 4, 2],
      [8, 68, 2],
      [9, 132, 1],
      [2, 12, 2],
      [1, 8, 1],
    ] as const) {
      const input = tfl.input({ shape: [h, h, cin] });
      const conv = new BinaryConv2D({ filters: 8, kernelSize: 3, strides: stride, seed: h });
      const model = tfl.model({ inputs: input, outputs: conv.apply(input) as tfl.SymbolicTensor });
      const image = tf.tidy(() => tf.randomNormal([h * h * cin], 0, 1, 'float32', h).dataSync());
      const { errors } = await checkEveryLayer(model, image as Float32Array, h);
      const [error] = Object.values(errors);
      assert.ok((error as number) < 1e-5, `${h}x${h}x${cin}, stride ${stride}: error ${error}`);
      model.dispose();
    }
  });

  it('writes Bi-Real-18 (ImageNet, 224 px) in about the cost summary memory figure', () => {
    const model = createModel('bireal18');
    const bytes = exportModel(model, info(224));
    const summaryBytes = costSummary(model).memoryBits / 8;
    // 4.19 MB against 47 MB in float32: the binary weights packed, the real ones in float32.
    assert.ok(
      Math.abs(bytes.length / summaryBytes - 1) < 0.01,
      `${bytes.length} vs ${summaryBytes}`,
    );
    model.dispose();
  });

  it('names what is wrong with unsupported models, bad files and bad inputs', async () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const conv = tfl.layers.conv2d({ name: 'c', filters: 8, kernelSize: 3, activation: 'relu' });
    const fused = tfl.model({ inputs: input, outputs: conv.apply(input) as tfl.SymbolicTensor });
    assert.throws(() => exportModel(fused, info(8)), /layer 'c' \(Conv2D\): only linear convs/);
    const flat = tfl.layers.flatten({ name: 'f' }).apply(input) as tfl.SymbolicTensor;
    assert.throws(
      () => exportModel(tfl.model({ inputs: input, outputs: flat }), info(8)),
      /layer 'f' \(Flatten\): not a layer the engine runs/,
    );
    const leaky = createModel('resnet18', {
      classes: 10,
      inputSize: 32,
      width: 0.125,
      block: 'bireal',
      activation: 'leaky-clip',
    });
    assert.throws(() => exportModel(leaky, info(32)), /\(Clip\): a leaky clip/);
    leaky.dispose();
    await assert.rejects(
      PackedNet.load(new Uint8Array(64), undefined, 'x.bireal'),
      /x\.bireal: not a bireal deploy file/,
    );
    const model = createModel('bireal18', { classes: 10, inputSize: 32, width: 0.125 });
    const bytes = exportModel(model, info(32));
    await assert.rejects(
      PackedNet.load(bytes.subarray(0, bytes.length - 100), undefined, 'cut.bireal'),
      /cut\.bireal: truncated/,
    );
    const net = await PackedNet.load(bytes);
    assert.throws(
      () => net.run(new Float32Array(10)),
      /input has 10 values; this model takes 32x32x3 = 3072/,
    );
    model.dispose();
  });
});
