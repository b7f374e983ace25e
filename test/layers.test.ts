import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { BinaryConv2D, Clip } from '../src/layers/index.js';

before(async () => {
  await initBackend({ log: false });
});

/** Direct NHWC convolution of ±1 inputs with scaled ±1 weights, in plain loops. */
function referenceBinaryConv(
  x: number[][][][],
  w: number[][][][],
  stride: number,
  padding: 'same' | 'valid',
  scaled: boolean,
): number[] {
  const [n, h, wd, cin] = [x.length, x[0]!.length, x[0]![0]!.length, x[0]![0]![0]!.length];
  const [k, cout] = [w.length, w[0]![0]![0]!.length];
  const sign = (v: number) => (v >= 0 ? 1 : -1);
  const alpha = Array.from({ length: cout }, (_, o) => {
    let sum = 0;
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) for (let c = 0; c < cin; c++) sum += Math.abs(w[a]![b]![c]![o]!);
    return scaled ? sum / (k * k * cin) : 1;
  });
  const out = (len: number) =>
    padding === 'same' ? Math.ceil(len / stride) : Math.ceil((len - k + 1) / stride);
  const [oh, ow] = [out(h), out(wd)];
  const padTotal = (len: number, o: number) =>
    padding === 'same' ? Math.max((o - 1) * stride + k - len, 0) : 0;
  const [pt, pl] = [Math.floor(padTotal(h, oh) / 2), Math.floor(padTotal(wd, ow) / 2)];
  const result: number[] = [];
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let o = 0; o < cout; o++) {
          let acc = 0;
          for (let a = 0; a < k; a++)
            for (let c2 = 0; c2 < k; c2++) {
              const [y, xx] = [i * stride + a - pt, j * stride + c2 - pl];
              if (y < 0 || y >= h || xx < 0 || xx >= wd) continue; // zero padding after the sign
              for (let c = 0; c < cin; c++)
                acc += sign(x[b]![y]![xx]![c]!) * sign(w[a]![c2]![c]![o]!);
            }
          result.push(acc * alpha[o]!);
        }
  return result;
}

describe('BinaryConv2D', () => {
  for (const [stride, padding, binarizer] of [
    [1, 'same', 'magnitude-aware'],
    [2, 'same', 'sign'],
    [2, 'valid', 'scaled'],
    [1, 'valid', 'magnitude-aware-authors'],
  ] as const) {
    it(`equals conv(sign(x), binarized W): stride ${stride}, ${padding}, ${binarizer}`, () => {
      const layer = new BinaryConv2D({
        filters: 4,
        kernelSize: 3,
        strides: stride,
        padding,
        binarizer,
        seed: 3,
      });
      const x = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
      const y = layer.apply(x) as tf.Tensor;
      assert.deepEqual(y.shape, layer.computeOutputShape(x.shape));
      const kernel = layer.getWeights()[0] as tf.Tensor;
      const expected = referenceBinaryConv(
        x.arraySync() as number[][][][],
        kernel.arraySync() as number[][][][],
        stride,
        padding,
        binarizer !== 'sign',
      );
      const actual = y.dataSync();
      expected.forEach((e, i) =>
        assert.ok(Math.abs((actual[i] as number) - e) < 1e-4, `output ${i}: ${actual[i]} vs ${e}`),
      );
      layer.dispose();
    });
  }

  it('trains its latent kernel through the chosen estimator', () => {
    const layer = new BinaryConv2D({
      filters: 2,
      kernelSize: 3,
      estimator: 'approx-sign',
      seed: 1,
    });
    const x = tf.randomNormal([1, 5, 5, 2], 0, 3, 'float32', 2) as tf.Tensor4D;
    layer.apply(x); // build
    const kernel = layer.trainableWeights[0]!.read() as tf.Variable;
    const { grads } = tf.variableGrads(
      () => tf.sum(layer.apply(x) as tf.Tensor) as tf.Scalar,
      [kernel],
    );
    const g = grads[kernel.name]!;
    assert.deepEqual(g.shape, [3, 3, 2, 2]);
    assert.ok((tf.norm(g).dataSync()[0] as number) > 0);
  });

  it('serializes its configuration', () => {
    const layer = new BinaryConv2D({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      estimator: 'ste',
      binarizer: 'scaled',
      name: 'b',
    });
    const config = layer.getConfig();
    assert.equal(config['estimator'], 'ste');
    assert.equal(config['binarizer'], 'scaled');
    const registered = tf.serialization.SerializationMap.getMap().classNameMap['BinaryConv2D'];
    assert.ok(registered, 'BinaryConv2D is registered');
  });

  it('rejects unknown estimator, binarizer and initializer names', () => {
    assert.throws(
      () => new BinaryConv2D({ filters: 1, kernelSize: 3, estimator: 'tanh' as never }),
      /unknown estimator 'tanh'/,
    );
    assert.throws(
      () => new BinaryConv2D({ filters: 1, kernelSize: 3, binarizer: 'dorefa' as never }),
      /unknown binarizer 'dorefa'/,
    );
    assert.throws(
      () => new BinaryConv2D({ filters: 1, kernelSize: 3, kernelInitializer: 'zeros' as never }),
      /unknown kernel initializer/,
    );
  });
});

describe('Clip', () => {
  it('clips to [-1, 1] and passes gradient only inside', () => {
    const input = tfl.input({ shape: [5] });
    const model = tfl.model({
      inputs: input,
      outputs: new Clip({}).apply(input) as tfl.SymbolicTensor,
    });
    const x = tf.tensor2d([[-2, -0.5, 0, 0.5, 2]]);
    assert.deepEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()), [-1, -0.5, 0, 0.5, 1]);
    const grad = tf.grad((t: tf.Tensor) => model.apply(t) as tf.Tensor)(x);
    assert.deepEqual(Array.from(grad.dataSync()), [0, 1, 1, 1, 0]);
  });

  it("with a slope, is the authors' leaky clip, and keeps the slope when saved", () => {
    const leaky = new Clip({ slope: 0.5 });
    const x = tf.tensor1d([-3, -1, -0.5, 0.5, 1, 3]);
    assert.deepEqual(
      Array.from((leaky.apply(x) as tf.Tensor).dataSync()),
      [-2, -1, -0.5, 0.5, 1, 2],
    );
    const grad = tf.grad((t: tf.Tensor) => leaky.apply(t) as tf.Tensor)(tf.tensor1d([-3, 0.5, 3]));
    assert.deepEqual(Array.from(grad.dataSync()), [0.5, 1, 0.5]);
    assert.equal((Clip.fromConfig(Clip, leaky.getConfig()) as Clip).slope, 0.5);
    assert.equal(new Clip().slope, 0);
  });
});
