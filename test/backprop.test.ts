import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import {
  layerwiseLogits,
  lossAndGradients,
  supportsLayerwiseBackprop,
} from '../src/backprop/index.js';
import { MODEL_NAMES, createModel, type ModelOptions } from '../src/models/index.js';
import { trainableVariables } from '../src/train/step.js';

before(async () => {
  // The tfjs-op rules, checked exactly against autodiff of the same ops; the native steps are
  // checked against them in test/native.test.ts.
  await initBackend({ log: false, native: false });
});

function batch(n: number, size: number, classes: number) {
  const images = tf.randomNormal([n, size, size, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
  const ids = tf.tensor1d(
    Array.from({ length: n }, (_, i) => (i * 3) % classes),
    'int32',
  );
  return { images, labels: tf.cast(tf.oneHot(ids, classes), 'float32') as tf.Tensor2D };
}

function movingStats(model: ReturnType<typeof createModel>): number[] {
  return model.weights
    .filter((w) => w.originalName.includes('moving'))
    .flatMap((w) => Array.from(w.read().dataSync()));
}

/** Asserts two gradients agree: L2 error below `tol` relative, plus 1e-5 for near-zero gradients (float noise). */
function assertGradClose(actual: tf.Tensor, expected: tf.Tensor, tol: number, what: string) {
  const [err, norm] = tf.tidy(() => [
    tf.norm(tf.sub(actual, expected)).dataSync()[0],
    tf.norm(expected).dataSync()[0],
  ]) as [number, number];
  assert.ok(err <= tol * norm + 1e-5, `${what}: |diff| ${err} vs |grad| ${norm}`);
}

const cases: [string, ModelOptions][] = [
  ...MODEL_NAMES.map((name): [string, ModelOptions] => [name, {}]),
  ['resnet18', { activation: 'clip', block: 'bireal' }],
  ['resnet18', { activation: 'leaky-clip', block: 'bireal' }],
  ['bireal18', { estimator: 'ste', binarizer: 'magnitude-aware' }],
  ['bireal18', { estimator: 'clipped-ste', binarizer: 'sign' }],
  ['bireal18', { smallInput: true, binarizer: 'scaled' }],
];

/** Softmax cross-entropy with label smoothing, as `lossAndGradients` computes it. */
function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor2D, smoothing: number): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(labels, logits, undefined, smoothing) as tf.Scalar;
}

describe('layer-wise backprop', () => {
  for (const [name, extra] of cases) {
    it(`${name} ${JSON.stringify(extra)}: same loss and gradients as tfjs autodiff of its forward pass`, () => {
      // The reference differentiates the same forward ops, so both see bit-identical
      // activations: a binary net flips signs under any change of float rounding.
      const options = { inputSize: 64, classes: 7, width: 0.25, seed: 5, ...extra };
      const a = createModel(name, options);
      const b = createModel(name, options);
      assert.ok(supportsLayerwiseBackprop(a));
      const { images, labels } = batch(4, 64, 7);
      const expected = tf.variableGrads(
        () => crossEntropy(layerwiseLogits(b, images), labels, 0.1),
        trainableVariables(b),
      );
      const actual = lossAndGradients(a, images, labels, { labelSmoothing: 0.1 });
      const expectedLoss = expected.value.dataSync()[0] as number;
      assert.ok(
        Math.abs(actual.loss - expectedLoss) < 1e-5,
        `loss ${actual.loss} vs ${expectedLoss}`,
      );
      const namesA = trainableVariables(a).map((v) => v.name);
      const namesB = trainableVariables(b).map((v) => v.name);
      assert.equal(
        Object.keys(actual.grads).length,
        namesA.length,
        'every trainable weight has a gradient',
      );
      namesA.forEach((n, i) =>
        assertGradClose(
          actual.grads[n] as tf.Tensor,
          expected.grads[namesB[i] as string] as tf.Tensor,
          1e-4,
          n,
        ),
      );
      const [statsA, statsB] = [movingStats(a), movingStats(b)];
      statsA.forEach((v, i) => assert.equal(v, statsB[i], `moving statistic ${i}`));
      tf.dispose([actual.grads, expected.grads, expected.value, images, labels]);
      a.dispose();
      b.dispose();
    });
  }

  for (const name of ['bireal18', 'resnet18', 'resnet34']) {
    it(`${name}: its forward pass computes what tfjs-layers computes in training mode`, () => {
      const options = { inputSize: 32, classes: 7, width: 0.25, seed: 5 };
      const a = createModel(name, options);
      const b = createModel(name, options);
      const { images } = batch(8, 32, 7);
      const [ours, theirs] = [layerwiseLogits(a, images), b.apply(images, { training: true })];
      assertGradClose(ours, theirs as tf.Tensor, 1e-4, 'logits');
      const [statsA, statsB] = [movingStats(a), movingStats(b)];
      statsA.forEach((v, i) =>
        assert.ok(Math.abs(v - (statsB[i] as number)) < 1e-4, `moving statistic ${i}`),
      );
      tf.dispose([ours, theirs as tf.Tensor, images]);
      a.dispose();
      b.dispose();
    });
  }

  it('frees every intermediate tensor', () => {
    const model = createModel('bireal18', {
      inputSize: 32,
      smallInput: true,
      classes: 4,
      width: 0.25,
    });
    const { images, labels } = batch(2, 32, 4);
    tf.dispose(lossAndGradients(model, images, labels).grads);
    const before = tf.memory().numTensors;
    tf.dispose(lossAndGradients(model, images, labels).grads);
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });

  it('throws on a non-finite loss without leaking', () => {
    const model = createModel('bireal18', {
      inputSize: 32,
      smallInput: true,
      classes: 4,
      width: 0.25,
    });
    const images = tf.fill([2, 32, 32, 3], NaN) as tf.Tensor4D;
    const labels = tf.cast(tf.oneHot(tf.tensor1d([0, 1], 'int32'), 4), 'float32') as tf.Tensor2D;
    const before = tf.memory().numTensors;
    assert.throws(() => lossAndGradients(model, images, labels), /loss is NaN/);
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });
});
