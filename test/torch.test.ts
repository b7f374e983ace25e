/**
 * python/bireal_torch against bireal: the same networks on the same weights give the same logits
 * and one step's gradients, for every model, estimator and binarizer; weights survive tfjs → torch
 * → tfjs, and torch → `.bireal` (packed engine) or `.ckpt`. Needs Debian's python3-torch (skips
 * with a message where it is missing).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { BINARIZERS, ESTIMATORS } from '../src/binarize/index.js';
import { main } from '../src/cli/main.js';
import { PackedNet } from '../src/engine/runtime.js';
import {
  MODEL_NAMES,
  createModel,
  type ModelName,
  type ModelOptions,
} from '../src/models/index.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { parseRecipe, type StageSpec } from '../src/train/recipe.js';
import { trainableVariables, trainingLoss } from '../src/train/step.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  namedWeights,
  readTorchFile,
  setNamedWeights,
  torchPython,
  writeTorchFile,
} from '../src/train/torch.js';

const PYTHON_ENV = { ...process.env, PYTHONPATH: 'python' };
const missing =
  spawnSync(torchPython(), ['-c', 'import torch, PIL'], { env: PYTHON_ENV }).status === 0
    ? false
    : `PyTorch or PIL missing for ${torchPython()}: bash scripts/setup.sh installs python3-torch and python3-pil`;
if (missing) console.log(`# skipped: ${missing}`);

/** Runs test/torch_helper.py; returns its stdout. */
function helper(...args: string[]): string {
  return execFileSync(torchPython(), ['test/torch_helper.py', ...args], {
    env: PYTHON_ENV,
    encoding: 'utf8',
  });
}

/**
 * Even sizes down to 1 (32 → 16 → 8 → 4 → 2 → 1): stride-2 convs and the max-pool pad only at the
 * bottom and right. ODD (36 → 18 → 9 → 5 → 3 → 2) also pads the 2x2 average pools, whose windows
 * the padding cuts (the gradient tfjs' own AvgPoolGrad got wrong there; see src/backend/kernels.ts).
 */
const SIZE = 32;
const ODD = 36;
const BASE: ModelOptions = { classes: 10, inputSize: SIZE, width: 0.25, seed: 3 };

/** Deterministic normal-ish numbers (sum of uniforms) from a seed. */
function noise(seed: number, length: number, mean = 0, spread = 1): Float32Array {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from(
    { length },
    () => mean + spread * (uniform() + uniform() + uniform() - 1.5),
  );
}

/** A registry model whose BatchNorm parameters and statistics are random, not 1 and 0. */
function randomModel(name: ModelName, options: ModelOptions): tfl.LayersModel {
  const model = createModel(name, { ...BASE, ...options });
  const weights = namedWeights(model);
  let seed = 10;
  for (const [key, w] of Object.entries(weights)) {
    const n = w.data.length;
    if (/(gamma|moving_variance)$/.test(key)) w.data = noise(seed++, n, 1, 0.5);
    if (/(beta|moving_mean|bias)$/.test(key)) w.data = noise(seed++, n, 0, 0.4);
  }
  setNamedWeights(model, weights, name);
  return model;
}

/** Inference logits of NHWC `input` [n, size, size, 3]. */
function logitsOf(model: tfl.LayersModel, input: Float32Array, size = SIZE): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(input, [input.length / (size * size * 3), size, size, 3]);
    return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });
}

/** max |a - b| / max |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  b.forEach((v, i) => {
    diff = Math.max(diff, Math.abs((a[i] as number) - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return diff / scale;
}

interface Case {
  name: string;
  model: ModelName;
  options: ModelOptions;
}

const CASES: Case[] = [
  ...MODEL_NAMES.map((model) => ({ name: model, model, options: {} })),
  ...MODEL_NAMES.map((model) => ({ name: `${model}-${ODD}`, model, options: { inputSize: ODD } })),
  { name: 'resnet18-clip', model: 'resnet18', options: { activation: 'clip' } },
  // At 64 px: at 32 px, stage 4's BatchNorms normalise 4 values each (batch 4, 1x1 maps), and
  // with leaky clip's gradient outside [-1, 1] the gradients reach the tens; the two sides' float
  // rounding then differs by up to 17% of the largest (clip and ReLU: below 4e-4). At 64 px the
  // same network agrees to 1e-5.
  {
    name: 'resnet18-bireal-leaky-clip',
    model: 'resnet18',
    options: { block: 'bireal', activation: 'leaky-clip', inputSize: 64 },
  },
  { name: 'bireal18-small-input', model: 'bireal18', options: { smallInput: true } },
  ...ESTIMATORS.flatMap((estimator) =>
    BINARIZERS.map((binarizer) => ({
      name: `bireal18-${estimator}-${binarizer}`,
      model: 'bireal18' as const,
      options: { estimator, binarizer },
    })),
  ),
  {
    name: 'plain-binary-resnet18-ste-sign',
    model: 'plain-binary-resnet18',
    options: { estimator: 'ste', binarizer: 'sign' },
  },
] satisfies Case[];

describe('bireal_torch (PyTorch) against bireal', { skip: missing }, () => {
  before(async () => {
    await initBackend({ log: false });
  });

  it('gives the same logits and one step the same loss and gradients, every model, estimator and binarizer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bireal-torch-compare-'));
    const batch = 4;
    const labels = tf.tidy(() =>
      tf.cast(tf.oneHot(tf.tensor1d([0, 3, 7, 3], 'int32'), 10), 'float32'),
    );
    const labelData = labels.dataSync() as Float32Array;
    for (const c of CASES) {
      const size = c.options.inputSize ?? SIZE;
      const input = noise(1, batch * size * size * 3);
      const model = randomModel(c.model, c.options);
      const logits = logitsOf(model, input, size);
      const tensors = namedWeights(model); // before the step updates the moving statistics
      const x = tf.tensor4d(input, [batch, size, size, 3]);
      const variables = trainableVariables(model);
      const { value, grads } = tf.variableGrads(
        () => trainingLoss(model, x, labels as tf.Tensor2D, 0.1),
        variables,
      );
      const names = new Map(
        model.layers.flatMap((layer) =>
          layer.trainableWeights.map((w) => [
            (w.read() as tf.Variable).name,
            `test:grad:${layer.name}/${w.originalName.split('/').at(-1)}`,
          ]),
        ),
      );
      for (const [variable, g] of Object.entries(grads)) {
        tensors[names.get(variable) as string] = {
          shape: g.shape,
          data: g.dataSync() as Float32Array,
        };
      }
      tensors['test:input'] = { shape: [batch, size, size, 3], data: input };
      tensors['test:labels'] = { shape: [batch, 10], data: labelData };
      tensors['test:logits'] = { shape: [batch, 10], data: logits };
      tensors['test:loss'] = { shape: [], data: value.dataSync() as Float32Array };
      const meta = {
        model: c.model,
        options: { ...BASE, ...c.options },
        labelSmoothing: 0.1,
        gradients: true, // the helper reads it
      };
      writeFileSync(
        join(dir, `${c.name}.safetensors`),
        encodeSafetensors(tensors, { case: JSON.stringify(meta) }),
      );
      tf.dispose([x, value, ...Object.values(grads)]);
      model.dispose();
    }
    labels.dispose();
    const results = helper('compare', dir)
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            case: string;
            logits: number;
            loss: number;
            grad: number | null;
            worst: string | null;
            gradients: number;
          },
      );
    assert.deepEqual(results.map((r) => r.case).sort(), CASES.map((c) => c.name).sort());
    for (const r of results) {
      const grad = r.grad === null ? '-' : `${r.grad.toExponential(1)} (${r.worst})`;
      console.log(
        `# ${r.case}: logits ${r.logits.toExponential(1)}, loss ${r.loss.toExponential(1)}, ${r.gradients} gradients ${grad}`,
      );
      assert.ok(r.logits <= 1e-4, `${r.case}: logits differ by ${r.logits} of the largest`);
      assert.ok(r.loss <= 1e-4, `${r.case}: loss differs by ${r.loss}`);
      assert.ok(r.gradients > 0 && r.grad !== null, `${r.case}: no gradients compared`);
      assert.ok(
        r.grad <= 1e-3,
        `${r.case}: gradient ${r.worst} differs by ${r.grad} of its largest`,
      );
    }
  });

  it('round-trips every registry model tfjs → torch file → tfjs with the same weights and logits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bireal-torch-trip-'));
    const input = noise(2, 2 * SIZE * SIZE * 3);
    for (const name of MODEL_NAMES) {
      const model = randomModel(name, {});
      const file = join(dir, `${name}.pt`);
      const options = { classes: 10, inputSize: SIZE, inputChannels: 3, width: 0.25 };
      const info = {
        model: name,
        options,
        classes: [...'abcdefghij'],
        dataset: { train: 'imagenette:train', eval: 'imagenette:val' },
      };
      await writeTorchFile(file, model, info);
      const back = await readTorchFile(file);
      const kept = Object.keys(options).map((key) => [key, back.info.options[key as 'width']]);
      assert.deepEqual({ ...back.info, options: Object.fromEntries(kept) }, info);
      const before = namedWeights(model);
      for (const [key, w] of Object.entries(namedWeights(back.model))) {
        assert.deepEqual(w.data, before[key]?.data, `${name}: ${key} changed`);
      }
      assert.equal(relativeError(logitsOf(back.model, input), logitsOf(model, input)), 0);
      model.dispose();
      back.model.dispose();
    }
  });

  it('imports a torch file as a .bireal file with the logits of PyTorch on the packed engine, and as a .ckpt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bireal-torch-import-'));
    for (const [name, options] of [
      ['bireal18', {}],
      ['resnet18', { block: 'bireal', activation: 'clip' }],
      ['plain-binary-resnet18', { binarizer: 'sign' }],
    ] as const) {
      const torchFile = join(dir, `${name}.pt`);
      const tensorsFile = join(dir, `${name}.safetensors`);
      helper('make', name, JSON.stringify({ ...BASE, ...options }), torchFile, tensorsFile);
      const { tensors } = decodeSafetensors(readFileSync(tensorsFile), tensorsFile);
      const input = tensors['test:input']?.data as Float32Array;
      const expected = tensors['test:logits']?.data as Float32Array;
      const deploy = join(dir, `${name}.bireal`);
      assert.equal(await main(['import', '--torch', torchFile, '--out', deploy]), 0);
      const net = await PackedNet.load(readFileSync(deploy), undefined, deploy);
      const per = SIZE * SIZE * 3;
      for (let i = 0; i < input.length / per; i++) {
        const logits = net.run(input.subarray(i * per, (i + 1) * per));
        const error = relativeError(logits, expected.subarray(i * 10, (i + 1) * 10));
        assert.ok(error <= 1e-4, `${name} image ${i}: packed engine logits differ by ${error}`);
      }
      // Without a recipe and training state the file cannot be a checkpoint: a clear error.
      assert.equal(await main(['import', '--torch', torchFile, '--out', join(dir, 'x.ckpt')]), 1);
      const { model } = await readTorchFile(torchFile);
      const error = relativeError(logitsOf(model, input), expected);
      assert.ok(error <= 1e-4, `${name}: tfjs logits of the imported weights differ by ${error}`);
      model.dispose();
    }
  });

  it('exports a bireal checkpoint with --format torch and imports it back as a .ckpt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bireal-torch-ckpt-'));
    const recipe = parseRecipe({
      name: 'torch-trip',
      dataset: { train: 'imagenette:train', eval: 'imagenette:val', imageSize: SIZE },
      stages: [
        {
          name: 'binary',
          model: { name: 'bireal18', options: { width: 0.25 } },
          optimizer: { type: 'adam', lr: 1e-3 },
          schedule: { type: 'linear' },
          epochs: 1,
          batchSize: 4,
        },
      ],
    });
    const stage = recipe.stages[0] as StageSpec;
    const record = {
      name: 'binary',
      model: 'bireal18' as const,
      init: null,
      epochs: 1,
      train: null,
      eval: null,
      checkpoint: 'checkpoints/1-binary.ckpt',
    };
    const state = {
      stage: 0,
      epoch: 1,
      step: 3,
      wallSeconds: 1,
      metricsBytes: 0,
      stages: [record],
    };
    const classes = [...'abcdefghij'];
    const model = randomModel('bireal18', {});
    const optimizer = createOptimizer(stage.optimizer, 1e-3);
    const [checkpoint, torchFile, imported] = ['a.ckpt', 'a.pt', 'b.ckpt'].map((f) =>
      join(dir, f),
    ) as [string, string, string];
    await saveCheckpoint(checkpoint, { model, optimizer, recipe, classes, state });
    optimizer.dispose();
    assert.equal(
      await main(['export', '--checkpoint', checkpoint, '--format', 'torch', '--out', torchFile]),
      0,
    );
    assert.equal(await main(['import', '--torch', torchFile, '--out', imported]), 0);
    const back = await loadCheckpoint(imported);
    tf.dispose(back.optimizerWeights.map((w) => w.tensor));
    assert.deepEqual([back.recipe, back.classes, back.state], [recipe, classes, state]);
    const input = noise(4, 2 * SIZE * SIZE * 3);
    assert.equal(relativeError(logitsOf(back.model, input), logitsOf(model, input)), 0);
    model.dispose();
    back.model.dispose();
  });

  it('rejects bad input with clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bireal-torch-bad-'));
    await assert.rejects(readTorchFile(join(dir, 'none.pt')), /none\.pt: no such file/);
    writeFileSync(join(dir, 'junk.pt'), 'junk');
    await assert.rejects(readTorchFile(join(dir, 'junk.pt')), /junk\.pt: not a torch file/);
    assert.equal(await main(['import', '--torch', join(dir, 'junk.pt'), '--out', 'x.onnx']), 2);
    const model = createModel('bireal18', BASE);
    const weights = namedWeights(model);
    delete weights['fc/bias'];
    assert.throws(() => setNamedWeights(model, weights, 'w'), /w: no weight fc\/bias/);
    const info = {
      model: 'bireal18' as const,
      options: { ...BASE, width: 0.5 },
      classes: [],
      dataset: { train: 'a:b', eval: 'a:c' },
    };
    await assert.rejects(
      writeTorchFile(join(dir, 'x.pt'), model, info),
      /^Error: stem_conv\/kernel has shape \[7, 7, 3, 16\], expected \[7, 7, 3, 32\]/,
    );
    model.dispose();
  });
});
