/**
 * Tests of src/backend/native.ts and the addon in native/: every native kernel registered on the
 * wasm backend (oneDNN convolutions, the pooling gradients, the fused steps of NATIVE_KERNELS)
 * against the cpu backend's kernels or a float64 reference, on random values with negatives;
 * one training step (loss, gradients, BatchNorm statistics, Adam) equal to the tfjs path on cpu;
 * no tensor or native memory growth over training steps; clear errors on bad buffers.
 *
 * `BIREAL_NATIVE=0` skips the suite; otherwise a missing addon fails it (CI must build it).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import {
  BINARY_BACKWARD_ROUTES,
  NATIVE_KERNELS,
  binaryConvBackward,
  nativeInfo,
  nativeTrainingKernels,
  nativeUnavailableReason,
} from '../src/backend/native.js';
import {
  BINARIZERS,
  ESTIMATORS,
  binarizedWeight,
  estimatorGradient,
  signPlusMinusOne,
  weightGradient,
} from '../src/binarize/index.js';
import { lossAndGradients } from '../src/backprop/index.js';
import { BinaryConv2D } from '../src/layers/index.js';
import { createModel } from '../src/models/index.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { createTrainStep } from '../src/train/step.js';
import { random, relError, size, type Pad, type Shape4 } from './kernel-helpers.js';

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const error = relError(actual, expected);
  assert.ok(error < tol, `${what}: relative error ${error} (tolerance ${tol})`);
}

const TOL = 1e-4;

/** Runs a kernel by name on the active backend; always returns the list of outputs. */
function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: object = {}) {
  const out = tf.engine().runKernel(name, inputs, attrs as never);
  return Array.isArray(out) ? out : [out];
}

/**
 * Runs `fn` on `backend` (its tensors are made there from plain arrays) and returns copies of
 * its outputs' values, leaving wasm active again.
 */
async function on(
  backend: 'cpu' | 'wasm',
  fn: () => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  try {
    const outputs = tf.tidy(() => {
      const out = fn();
      return Array.isArray(out) ? out : [out];
    });
    const values = outputs.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(outputs);
    return values;
  } finally {
    await tf.setBackend('wasm');
  }
}

/** The same computation on native wasm and on cpu: [native outputs, cpu outputs]. */
async function bothBackends(fn: () => tf.Tensor | tf.Tensor[]) {
  return [await on('wasm', fn), await on('cpu', fn)] as const;
}

// ---- Convolution cases ----------------------------------------------------------------------

interface ConvCase {
  x: Shape4;
  w: Shape4;
  strides: number;
  pad: Pad;
  dilation?: number;
}

const EXPLICIT: Pad = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
];

/** Every kernel size x stride x padding, on odd spatial sizes, batches 2 and 3, 5 -> 6 channels. */
const CONV_CASES: ConvCase[] = [];
for (const k of [1, 3, 7]) {
  for (const strides of [1, 2, 3]) {
    for (const pad of ['same', 'valid', EXPLICIT] as Pad[]) {
      const odd = CONV_CASES.length % 2 === 1;
      const [n, h, w] = odd ? [3, 11, 13] : [2, 9, 7];
      CONV_CASES.push({ x: [n, h, w, 5], w: [k, k, 5, 6], strides, pad });
    }
  }
}
CONV_CASES.push({ x: [2, 9, 9, 64], w: [3, 3, 64, 64], strides: 1, pad: 'same' });
CONV_CASES.push({ x: [2, 9, 9, 64], w: [3, 3, 64, 64], strides: 2, pad: 'valid' });

/** Forward convs with dilation 2 (the backward kernels are called with dilation 1 only). */
const DILATED_CASES: ConvCase[] = [
  { x: [2, 11, 13, 5], w: [3, 3, 5, 6], strides: 1, pad: 'same', dilation: 2 },
  { x: [3, 9, 7, 5], w: [3, 3, 5, 6], strides: 1, pad: 'valid', dilation: 2 },
];

const convLabel = (c: ConvCase): string =>
  `x ${c.x.join('x')} w ${c.w.join('x')} stride ${c.strides} pad ${JSON.stringify(c.pad)}` +
  (c.dilation === undefined ? '' : ` dilation ${c.dilation}`);

/** y, dx, dW of one conv case on the active backend, through its kernels. */
function convKernels(c: ConvCase, seed: number, backward = true): tf.Tensor[] {
  const dilation = c.dilation ?? 1;
  const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, dilation, c.pad);
  const x = tf.tensor4d(random(size(c.x), seed), c.x);
  const w = tf.tensor4d(random(size(c.w), seed + 1), c.w);
  const dy = tf.tensor4d(random(size(info.outShape), seed + 2), info.outShape);
  const y = tf.conv2d(x, w, c.strides, c.pad, 'NHWC', dilation);
  if (!backward) return [y];
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const [dx] = runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: c.x });
  const [dW] = runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: c.w });
  return [y, dx as tf.Tensor, dW as tf.Tensor];
}

// ---- Pooling cases --------------------------------------------------------------------------

interface PoolCase {
  x: Shape4;
  filter: [number, number];
  stride: [number, number];
  pad: 'same' | 'valid';
  /** Round the values to multiples of 1/grid (many ties). */
  grid?: number;
}

const MAX_POOL_CASES: PoolCase[] = [
  { x: [2, 11, 13, 5], filter: [3, 3], stride: [2, 2], pad: 'same' },
  { x: [2, 11, 13, 5], filter: [3, 3], stride: [2, 2], pad: 'same', grid: 2 },
  { x: [3, 9, 7, 6], filter: [2, 2], stride: [2, 2], pad: 'valid' },
  { x: [3, 9, 7, 6], filter: [2, 2], stride: [2, 2], pad: 'valid', grid: 1 },
  { x: [2, 8, 8, 64], filter: [3, 3], stride: [2, 2], pad: 'same', grid: 4 },
];

const AVG_POOL_CASES: PoolCase[] = [
  { x: [2, 9, 7, 5], filter: [2, 2], stride: [2, 2], pad: 'valid' },
  { x: [3, 7, 5, 6], filter: [7, 5], stride: [7, 5], pad: 'valid' }, // global average pooling
  { x: [2, 4, 4, 64], filter: [4, 4], stride: [4, 4], pad: 'valid' },
  { x: [2, 11, 13, 5], filter: [3, 3], stride: [2, 2], pad: 'same' },
];

const poolLabel = (c: PoolCase): string =>
  `x ${c.x.join('x')} ${c.filter.join('x')}/${c.stride.join('x')} ${c.pad}` +
  (c.grid === undefined ? '' : ` ties (grid 1/${c.grid})`);

function poolInput(c: PoolCase, seed: number): Float32Array {
  const v = random(size(c.x), seed);
  const grid = c.grid;
  return grid === undefined ? v : v.map((u) => Math.round(u * grid) / grid);
}

// ---- Float64 references -----------------------------------------------------------------------

/** Per-channel mean and biased variance of x [rows, channels], in float64. */
function moments64(x: Float32Array, channels: number) {
  const rows = x.length / channels;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    mean[c] = (mean[c] as number) + (x[i] as number) / rows;
  }
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    const d = (x[i] as number) - (mean[c] as number);
    variance[c] = (variance[c] as number) + (d * d) / rows;
  }
  return { mean, variance };
}

/** dx, dGamma, dBeta of training-mode batch normalization, in float64 (closed form). */
function batchNormGrad64(
  x: Float32Array,
  dy: Float32Array,
  gamma: Float32Array,
  channels: number,
  epsilon: number,
) {
  const rows = x.length / channels;
  const { mean, variance } = moments64(x, channels);
  const std = variance.map((v) => Math.sqrt(v + epsilon));
  const xHat = Array.from(
    x,
    (v, i) => (v - (mean[i % channels] as number)) / (std[i % channels] as number),
  );
  const dGamma = new Float64Array(channels);
  const dBeta = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    dGamma[c] = (dGamma[c] as number) + (dy[i] as number) * (xHat[i] as number);
    dBeta[c] = (dBeta[c] as number) + (dy[i] as number);
  }
  const dx = Array.from(x, (_, i) => {
    const c = i % channels;
    const g = (gamma[c] as number) / (std[c] as number);
    const meanDy = (dBeta[c] as number) / rows;
    const meanDyXHat = (dGamma[c] as number) / rows;
    return g * ((dy[i] as number) - meanDy - (xHat[i] as number) * meanDyXHat);
  });
  return { mean, variance, dx, dGamma, dBeta };
}

/** One Adam step in float64: [value', m', v']. */
function adam64(
  hyper: number[],
  value: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
): number[][] {
  const [b1, b2, lr, epsilon, c1, c2] = hyper as [number, number, number, number, number, number];
  const newM = Array.from(m, (mi, i) => b1 * mi + (1 - b1) * (g[i] as number));
  const newV = Array.from(v, (vi, i) => b2 * vi + (1 - b2) * (g[i] as number) ** 2);
  const newValue = Array.from(
    value,
    (x, i) =>
      x - (lr * ((newM[i] as number) / c1)) / (Math.sqrt((newV[i] as number) / c2) + epsilon),
  );
  return [newValue, newM, newV];
}

/** Values in [-1.5, 1.5) with exact 0, +-1 and some values just inside and outside +-1. */
function withBoundaries(n: number, seed: number): Float32Array {
  const v = random(n, seed).map((u) => u * 1.5);
  const special = [0, 1, -1, 0.5, -0.5, 1 + 2 ** -20, -1 - 2 ** -20, 1 - 2 ** -20, -0];
  special.forEach((s, i) => (v[(i * 7) % n] = s));
  return v;
}

// ---- Models ---------------------------------------------------------------------------------

const MODEL_OPTIONS = { inputSize: 32, classes: 10, seed: 0, width: 0.25 };

function batchData(n: number, size: number, classes: number) {
  const images = random(n * size * size * 3, 77);
  const labels = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) labels[i * classes + ((i * 3) % classes)] = 1;
  return { images, labels };
}

const weightValues = (model: ReturnType<typeof createModel>): Float32Array[] =>
  model.weights.map((w) => Float32Array.from(w.read().dataSync()));

const BIREAL_NATIVE_OFF = process.env['BIREAL_NATIVE'] === '0';

/** Whether this CPU has the oneDNN instruction set `isa` (`sse41` or `avx2`), by its flags. */
function cpuHas(isa: string): boolean {
  const flag = { sse41: 'sse4_1', avx2: 'avx2' }[isa];
  if (flag === undefined) throw new Error(`no CPU flag known for ONEDNN_MAX_CPU_ISA=${isa}`);
  return new RegExp(`^flags\\s*:.*\\b${flag}\\b`, 'm').test(readFileSync('/proc/cpuinfo', 'utf8'));
}

describe(
  'native kernels (oneDNN addon on the wasm backend)',
  { skip: BIREAL_NATIVE_OFF ? 'BIREAL_NATIVE=0: native kernels turned off' : false },
  () => {
    before(async () => {
      // cpu gets the library's training kernels too: it is the reference tfjs path.
      await initBackend({ backend: 'cpu', log: false });
      await initBackend({ backend: 'wasm', log: false });
      if (!nativeTrainingKernels()) {
        assert.fail(
          `native kernels are not registered on wasm: ${nativeUnavailableReason() ?? 'unknown reason'}` +
            ' (set BIREAL_NATIVE=0 to skip these tests)',
        );
      }
    });

    test('the native kernels are registered on wasm', () => {
      assert.equal(tf.getBackend(), 'wasm');
      assert.ok(nativeTrainingKernels(), nativeUnavailableReason());
      for (const name of Object.values(NATIVE_KERNELS)) {
        assert.ok(tf.getKernel(name, 'wasm') !== undefined, `${name} registered`);
      }
      // The 1-bit convolutions' instruction set: BIREAL_ENGINE_ISA's, else the best there is.
      const wanted = process.env['BIREAL_ENGINE_ISA'];
      if (wanted) assert.equal(nativeInfo()?.binaryIsa, wanted);
    });

    // `npm test` runs this suite a second time with ONEDNN_MAX_CPU_ISA=AVX2, so that an AVX-512
    // host also checks the kernels an AVX2 host runs.
    test('oneDNN runs the instruction set that ONEDNN_MAX_CPU_ISA allows', (t) => {
      const cap = process.env['ONEDNN_MAX_CPU_ISA']?.toLowerCase();
      const isa = nativeInfo()?.isa;
      if (cap === undefined) return t.skip(`ONEDNN_MAX_CPU_ISA not set: ${isa}`);
      // The cap is an upper bound: a CPU without it runs its own best.
      if (!cpuHas(cap)) return t.skip(`this CPU has no ${cap}: ${isa}`);
      assert.equal(isa, cap);
    });

    describe('Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter match the cpu backend', () => {
      CONV_CASES.forEach((c, i) => {
        test(convLabel(c), async () => {
          const [native, cpu] = await bothBackends(() => convKernels(c, 1000 + 10 * i));
          ['y', 'dx', 'dW'].forEach((what, k) =>
            assertClose(native[k] as Float32Array, cpu[k] as Float32Array, TOL, what),
          );
        });
      });
      DILATED_CASES.forEach((c, i) => {
        test(`forward only: ${convLabel(c)}`, async () => {
          const [native, cpu] = await bothBackends(() => convKernels(c, 2000 + 10 * i, false));
          assertClose(native[0] as Float32Array, cpu[0] as Float32Array, TOL, 'y');
        });
      });
    });

    describe('MaxPoolGrad matches the cpu backend (negative values, ties)', () => {
      MAX_POOL_CASES.forEach((c, i) => {
        test(poolLabel(c), async () => {
          const xv = poolInput(c, 3000 + i);
          const [native, cpu] = await bothBackends(() => {
            const input = tf.tensor4d(xv, c.x);
            const output = tf.maxPool(input, c.filter, c.stride, c.pad);
            const dy = tf.tensor(random(output.size, 3100 + i), output.shape);
            const attrs = {
              filterSize: c.filter,
              strides: c.stride,
              pad: c.pad,
              dimRoundingMode: undefined,
            };
            return runKernel('MaxPoolGrad', { dy, input, output }, attrs);
          });
          assertClose(native[0] as Float32Array, cpu[0] as Float32Array, TOL, 'dx');
        });
      });
    });

    describe('AvgPoolGrad matches the cpu backend', () => {
      AVG_POOL_CASES.forEach((c, i) => {
        test(poolLabel(c), async () => {
          const [native, cpu] = await bothBackends(() => {
            const input = tf.tensor4d(random(size(c.x), 4000 + i), c.x);
            const outShape = tf.backend_util.computePool2DInfo(
              c.x,
              c.filter,
              c.stride,
              1,
              c.pad,
            ).outShape;
            const dy = tf.tensor(random(size(outShape), 4100 + i), outShape);
            const attrs = {
              filterSize: c.filter,
              strides: c.stride,
              pad: c.pad,
              dimRoundingMode: undefined,
            };
            return runKernel('AvgPoolGrad', { dy, input }, attrs);
          });
          assertClose(native[0] as Float32Array, cpu[0] as Float32Array, TOL, 'dx');
        });
      });
    });

    test('Add and AddN of same-shape tensors equal the cpu backend exactly; broadcasts fall back', async () => {
      // 2^17 elements: past the size where the sum runs on the OpenMP threads.
      const shape = [2, 64, 32, 32];
      const [native, cpu] = await bothBackends(() => {
        const [a, b, c] = [5000, 5001, 5002].map((seed) =>
          tf.tensor(random(size(shape), seed), shape),
        );
        const row = tf.tensor1d(random(32, 5003));
        return [
          tf.add(a as tf.Tensor, b as tf.Tensor),
          tf.addN([a as tf.Tensor, b as tf.Tensor, c as tf.Tensor]),
          tf.add(a as tf.Tensor, row),
          tf.add(tf.cast(a as tf.Tensor, 'int32'), tf.cast(b as tf.Tensor, 'int32')),
        ];
      });
      ['add', 'addN', 'broadcast add', 'int32 add'].forEach((what, k) =>
        assert.deepEqual(native[k], cpu[k], what),
      );
    });

    describe('NATIVE_KERNELS match tfjs ops and float64 references', () => {
      const epsilon = 1e-3;
      const BN_SHAPES: Shape4[] = [
        [3, 5, 7, 6],
        [2, 8, 8, 64],
        [4, 1, 1, 10],
      ];

      BN_SHAPES.forEach((shape, i) => {
        const channels = shape[3];
        // Per-channel offsets and scales, so that the variance is not ~1/3 everywhere.
        const xv = random(size(shape), 5000 + i).map(
          (u, k) => u * (1 + (k % channels) / 2) + ((k % channels) - 2) * 0.7,
        );
        const gv = random(channels, 5100 + i).map((u) => u + 1.2);
        const bv = random(channels, 5200 + i);
        const dyv = random(size(shape), 5300 + i);

        test(`batchNormTraining ${shape.join('x')}: y, mean, biased variance`, async () => {
          const [native, cpu] = await bothBackends(() => {
            const x = tf.tensor4d(xv, shape);
            const gamma = tf.tensor1d(gv);
            const beta = tf.tensor1d(bv);
            if (tf.getBackend() === 'wasm') {
              return runKernel(NATIVE_KERNELS.batchNormTraining, { x, gamma, beta }, { epsilon });
            }
            const { mean, variance } = tf.moments(x, [0, 1, 2]);
            const y = tf.add(
              tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma),
              beta,
            );
            return [y, mean, variance];
          });
          ['y', 'mean', 'variance'].forEach((what, k) =>
            assertClose(native[k] as Float32Array, cpu[k] as Float32Array, TOL, what),
          );
          const ref = moments64(xv, channels);
          assertClose(native[1] as Float32Array, ref.mean, TOL, 'mean vs float64');
          assertClose(native[2] as Float32Array, ref.variance, TOL, 'variance vs float64');
        });

        test(`batchNormGrad ${shape.join('x')}: dx, dGamma, dBeta`, async () => {
          const ref = batchNormGrad64(xv, dyv, gv, channels, epsilon);
          const native = await on('wasm', () =>
            runKernel(
              NATIVE_KERNELS.batchNormGrad,
              {
                x: tf.tensor4d(xv, shape),
                dy: tf.tensor4d(dyv, shape),
                gamma: tf.tensor1d(gv),
                mean: tf.tensor1d(Float32Array.from(ref.mean)),
                variance: tf.tensor1d(Float32Array.from(ref.variance)),
              },
              { epsilon },
            ),
          );
          assert.equal(native.length, 3);
          ['dx', 'dGamma', 'dBeta'].forEach((what, k) =>
            assertClose(native[k] as Float32Array, ref[what as 'dx'], TOL, what),
          );
        });
      });

      test('sign: {-1, +1}, sign(0) = sign(-0) = +1, tiny values keep their sign', async () => {
        const xv = random(1000, 6000);
        const special = [0, -0, 1e-8, -1e-8, 1e-40, -1e-40, 1.2e-7, -1.2e-7, 1, -1];
        special.forEach((s, i) => (xv[i * 13] = s));
        const [native, cpu] = await bothBackends(() => {
          const x = tf.tensor1d(xv);
          return tf.getBackend() === 'wasm'
            ? runKernel(NATIVE_KERNELS.sign, { x })
            : signPlusMinusOne(x);
        });
        const out = native[0] as Float32Array;
        assert.deepEqual(out, cpu[0]);
        xv.forEach((v, i) => assert.equal(out[i], v < 0 ? -1 : 1, `sign(${v})`));
        // A 4-D tensor, as the 1-bit convs use it.
        const native4 = await on('wasm', () =>
          runKernel(NATIVE_KERNELS.sign, { x: tf.tensor4d(xv.subarray(0, 960), [2, 4, 4, 30]) }),
        );
        assert.deepEqual(native4[0], out.subarray(0, 960));
      });

      for (const estimator of ESTIMATORS) {
        test(`estimatorGrad '${estimator}' (values at 0 and exactly +-1)`, async () => {
          const xv = withBoundaries(2 * 5 * 7 * 6, 6100);
          const dyv = random(xv.length, 6200);
          const [native, cpu] = await bothBackends(() => {
            const x = tf.tensor4d(xv, [2, 5, 7, 6]);
            const dy = tf.tensor4d(dyv, [2, 5, 7, 6]);
            return tf.getBackend() === 'wasm'
              ? runKernel(NATIVE_KERNELS.estimatorGrad, { dy, x }, { estimator })
              : tf.mul(dy, estimatorGradient(x, estimator));
          });
          assertClose(native[0] as Float32Array, cpu[0] as Float32Array, 1e-6, 'dx');
        });
      }

      const W_SHAPES: Shape4[] = [
        [3, 3, 5, 6],
        [3, 3, 64, 64],
      ];
      for (const binarizer of BINARIZERS) {
        for (const shape of W_SHAPES) {
          test(`binarizeWeight and weightGrad '${binarizer}' ${shape.join('x')}`, async () => {
            const wv = withBoundaries(size(shape), 6300 + shape[3]);
            const dWbv = random(size(shape), 6400 + shape[3]);
            const [native, cpu] = await bothBackends(() => {
              const w = tf.tensor4d(wv, shape);
              const dWb = tf.tensor4d(dWbv, shape);
              if (tf.getBackend() === 'wasm') {
                return [
                  ...runKernel(NATIVE_KERNELS.binarizeWeight, { w }, { binarizer }),
                  ...runKernel(NATIVE_KERNELS.weightGrad, { dWb, w }, { binarizer }),
                ];
              }
              return [binarizedWeight(w, binarizer), weightGradient(dWb, w, binarizer)];
            });
            assertClose(native[0] as Float32Array, cpu[0] as Float32Array, TOL, 'wb');
            assertClose(native[1] as Float32Array, cpu[1] as Float32Array, TOL, 'dW');
          });
        }
      }

      test('adam: one step equals the float64 formula (non-zero moments, step 3)', async () => {
        const n = 3000;
        const value = random(n, 7000);
        const m = random(n, 7001).map((u) => u * 0.1);
        const v = random(n, 7002).map((u) => (u + 1) * 0.01);
        const g = random(n, 7003);
        const hyper = [0.9, 0.999, 1e-2, 1e-7, 1 - 0.9 ** 3, 1 - 0.999 ** 3];
        const native = await on('wasm', () =>
          runKernel(
            NATIVE_KERNELS.adam,
            { value: tf.tensor1d(value), m: tf.tensor1d(m), v: tf.tensor1d(v), g: tf.tensor1d(g) },
            { hyper },
          ),
        );
        const ref = adam64(hyper, value, m, v, g);
        ['value', 'm', 'v'].forEach((what, k) =>
          assertClose(native[k] as Float32Array, ref[k] as number[], 1e-6, what),
        );
        // The update itself, not only value + update (dominated by value).
        const step = Array.from(native[0] as Float32Array, (x, i) => x - (value[i] as number));
        const refStep = (ref[0] as number[]).map((x, i) => x - (value[i] as number));
        assertClose(step, refStep, TOL, 'update');
      });

      test("adam: one step equals tf.train.adam's on cpu", async () => {
        const n = 2000;
        const valueV = random(n, 7100);
        const gV = random(n, 7101);
        const [lr, b1, b2, eps] = [1e-2, 0.9, 0.999, 1e-7];
        const zeros = new Float32Array(n);
        const native = await on('wasm', () =>
          runKernel(
            NATIVE_KERNELS.adam,
            {
              value: tf.tensor1d(valueV),
              m: tf.tensor1d(zeros),
              v: tf.tensor1d(zeros),
              g: tf.tensor1d(gV),
            },
            { hyper: [b1, b2, lr, eps, 1 - b1, 1 - b2] },
          ),
        );
        await tf.setBackend('cpu');
        const variable = tf.variable(tf.tensor1d(valueV));
        const g = tf.tensor1d(gV);
        const optimizer = tf.train.adam(lr, b1, b2, eps);
        optimizer.applyGradients([{ name: variable.name, tensor: g }]);
        const expected = Float32Array.from(variable.dataSync());
        optimizer.dispose();
        tf.dispose([variable, g]);
        await tf.setBackend('wasm');
        assertClose(native[0] as Float32Array, expected, 1e-6, 'value');
        const step = Array.from(native[0] as Float32Array, (x, i) => x - (valueV[i] as number));
        const refStep = Array.from(expected, (x, i) => x - (valueV[i] as number));
        assertClose(step, refStep, TOL, 'update');
      });
    });

    // `npm test` runs this suite again with BIREAL_ENGINE_ISA=avx2: the AVX2 popcount as well.
    describe(`${NATIVE_KERNELS.binaryConv} (XOR and popcount) equals the float conv of the signs exactly`, () => {
      const cases: { x: Shape4; w: Shape4; strides: number; pad: 'same' | 'valid' }[] = [];
      for (const k of [1, 3, 7]) {
        for (const strides of [1, 2, 3]) {
          for (const pad of ['same', 'valid'] as const) {
            const odd = cases.length % 2 === 1;
            const [n, h, w] = odd ? [3, 11, 13] : [2, 9, 8];
            // Input channels: under, at and past one 64-bit word; output channels not a multiple of 8.
            const cin = [5, 64, 100, 130][cases.length % 4] as number;
            cases.push({
              x: [n, h, w, cin],
              w: [k, k, cin, [6, 8, 12][cases.length % 3] as number],
              strides,
              pad,
            });
          }
        }
      }
      for (const c of cases) {
        for (const binarizer of ['sign', 'magnitude-aware'] as const) {
          test(`${c.x.join('x')} * ${c.w.join('x')}, stride ${c.strides}, ${c.pad}, ${binarizer}`, async () => {
            // Zeros of both signs among the inputs: sign(0) = +1.
            const xv = random(size(c.x), 6000 + cases.indexOf(c)).map((u, i) =>
              i % 17 === 0 ? (i % 2 ? -0 : 0) : u,
            );
            const wv = random(size(c.w), 6100 + cases.indexOf(c));
            const [wb = new Float32Array()] = await on('wasm', () =>
              runKernel(NATIVE_KERNELS.binarizeWeight, { w: tf.tensor4d(wv, c.w) }, { binarizer }),
            );
            const [popcount] = await on('wasm', () =>
              runKernel(
                NATIVE_KERNELS.binaryConv,
                { x: tf.tensor4d(xv, c.x), wb: tf.tensor4d(wb, c.w) },
                { strides: c.strides, pad: c.pad },
              ),
            );
            const [float] = await on('cpu', () => {
              const signs = tf.conv2d(
                signPlusMinusOne(tf.tensor4d(xv, c.x)),
                signPlusMinusOne(tf.tensor4d(wb, c.w)),
                c.strides,
                c.pad,
              );
              // Each output channel's magnitude, from the weights' first row.
              const scale = Array.from({ length: c.w[3] }, (_, co) => Math.abs(wb[co] as number));
              return tf.mul(signs, tf.tensor1d(scale));
            });
            const [a, b] = [popcount as Float32Array, float as Float32Array];
            assert.equal(a.length, b.length);
            const differ = a.findIndex((v, i) => v !== b[i]);
            assert.equal(
              differ,
              -1,
              `output ${differ}: ${a[differ]} (popcount) vs ${b[differ]} (float)`,
            );
          });
        }
      }

      test('BinaryConv2D layers use it, with the gradients of tfjs autodiff on cpu', async () => {
        const xv = random(2 * 9 * 9 * 16, 6200);
        const grads = async (backend: 'wasm' | 'cpu') => {
          await tf.setBackend(backend);
          const layer = new BinaryConv2D({ filters: 12, kernelSize: 3, strides: 2, seed: 1 });
          const x = tf.variable(tf.tensor4d(xv, [2, 9, 9, 16]));
          layer.apply(x); // builds the kernel
          const dy = tf.tensor4d(random(2 * 5 * 5 * 12, 6201), [2, 5, 5, 12]);
          const { value, grads: g } = tf.variableGrads(
            () => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, dy)) as tf.Scalar,
          );
          const out = [value, g[x.name], g[(layer.getWeights()[0] as tf.Variable).name]].map((t) =>
            Float32Array.from((t as tf.Tensor).dataSync()),
          );
          tf.dispose([x, dy, value, Object.values(g)]);
          layer.dispose();
          await tf.setBackend('wasm');
          return out;
        };
        const cpu = await grads('cpu');
        let calls = 0;
        const original = tf.getKernel(NATIVE_KERNELS.binaryConv, 'wasm');
        assert.ok(original !== undefined);
        tf.unregisterKernel(NATIVE_KERNELS.binaryConv, 'wasm');
        tf.registerKernel({
          ...original,
          kernelFunc: (args) => (calls++, original.kernelFunc(args)),
        });
        try {
          const native = await grads('wasm');
          assert.ok(calls > 0, 'the layer ran the popcount kernel');
          ['output', 'dx', 'dW'].forEach((what, i) =>
            assertClose(native[i] as Float32Array, cpu[i] as Float32Array, 1e-5, what),
          );
        } finally {
          tf.unregisterKernel(NATIVE_KERNELS.binaryConv, 'wasm');
          tf.registerKernel(original);
        }
      });
    });

    describe(`the 1-bit conv's gradients (${NATIVE_KERNELS.binaryConvInputGrad}, ${NATIVE_KERNELS.binaryConvFilterGrad}) on every route equal float64`, () => {
      const isa = () => nativeInfo()?.isa ?? '';
      const splitRuns = () => isa().startsWith('avx512');
      // Stride 1 and 2, same and valid, odd sizes; 16x16 outputs at stride 1, where `auto` splits
      // on AMX; a channel count not a multiple of 16.
      // `unscaled`: weights that are no binarizer's output (two magnitudes in a channel), which
      // the split leaves to float32.
      const cases: {
        x: Shape4;
        w: Shape4;
        strides: number;
        pad: 'same' | 'valid';
        unscaled?: boolean;
      }[] = [
        { x: [2, 16, 16, 8], w: [3, 3, 8, 16], strides: 1, pad: 'same' },
        { x: [2, 16, 16, 8], w: [3, 3, 8, 16], strides: 1, pad: 'same', unscaled: true },
        { x: [3, 9, 11, 13], w: [3, 3, 13, 6], strides: 2, pad: 'same' },
        { x: [2, 18, 18, 5], w: [3, 3, 5, 20], strides: 1, pad: 'valid' },
        { x: [2, 7, 7, 24], w: [1, 1, 24, 8], strides: 1, pad: 'valid' },
      ];
      /** dx and dWb in float64 from the float32 inputs (sign(0) = +1). */
      const reference = (
        c: (typeof cases)[number],
        xv: Float32Array,
        wb: Float32Array,
        dyv: Float32Array,
      ) => {
        const [n, h, w, cin] = c.x;
        const [k, , , cout] = c.w;
        const out = (d: number) => Math.ceil((c.pad === 'same' ? d : d - k + 1) / c.strides);
        const [oh, ow] = [out(h), out(w)];
        const pad = (d: number, o: number) =>
          c.pad === 'same' ? Math.floor(Math.max((o - 1) * c.strides + k - d, 0) / 2) : 0;
        const [top, left] = [pad(h, oh), pad(w, ow)];
        const dx = new Float64Array(size(c.x));
        const dWb = new Float64Array(size(c.w));
        for (let b = 0; b < n; b++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++)
              for (let ki = 0; ki < k; ki++)
                for (let kj = 0; kj < k; kj++) {
                  const [y, x] = [i * c.strides - top + ki, j * c.strides - left + kj];
                  if (y < 0 || y >= h || x < 0 || x >= w) continue;
                  for (let ci = 0; ci < cin; ci++) {
                    const at = ((b * h + y) * w + x) * cin + ci;
                    const sign = (xv[at] as number) >= 0 ? 1 : -1;
                    for (let co = 0; co < cout; co++) {
                      const g = dyv[((b * oh + i) * ow + j) * cout + co] as number;
                      const tap = ((ki * k + kj) * cin + ci) * cout + co;
                      dx[at] = (dx[at] as number) + g * (wb[tap] as number);
                      dWb[tap] = (dWb[tap] as number) + g * sign;
                    }
                  }
                }
        return [dx, dWb];
      };
      const outputShape = (c: (typeof cases)[number]): Shape4 => {
        const o = (d: number) => Math.ceil((c.pad === 'same' ? d : d - c.w[0] + 1) / c.strides);
        return [c.x[0], o(c.x[1]), o(c.x[2]), c.w[3]];
      };
      for (const route of BINARY_BACKWARD_ROUTES) {
        for (const c of cases) {
          test(`${route}: ${c.x.join('x')} * ${c.w.join('x')}, stride ${c.strides}, ${c.pad}${c.unscaled ? ', unscaled weights' : ''}`, async (t) => {
            if (route === 'split-bf16' && !splitRuns()) return t.skip(`oneDNN runs ${isa()}`);
            const seed = 6300 + cases.indexOf(c);
            const xv = random(size(c.x), seed).map((u, i) => (i % 13 === 0 ? 0 : u));
            // dy over six orders of magnitude, so that every bit of the split counts.
            const dyv = random(size(outputShape(c)), seed + 1).map(
              (u, i) => u * 10 ** ((i % 7) - 3),
            );
            const w = random(size(c.w), seed + 2);
            const [wb = new Float32Array()] = c.unscaled
              ? [w]
              : await on('wasm', () =>
                  runKernel(
                    NATIVE_KERNELS.binarizeWeight,
                    { w: tf.tensor4d(w, c.w) },
                    { binarizer: 'magnitude-aware' },
                  ),
                );
            process.env['BIREAL_BINARY_BACKWARD'] = route;
            try {
              const [dx = new Float32Array(), dWb = new Float32Array()] = await on('wasm', () => {
                const { dx, dWb } = binaryConvBackward(
                  tf.tensor4d(xv, c.x),
                  tf.tensor4d(wb, c.w),
                  tf.tensor4d(dyv, outputShape(c)),
                  c.strides,
                  c.pad,
                );
                return [dx(), dWb()];
              });
              const [dx64, dWb64] = reference(c, xv, wb, dyv);
              // float32 sums of at most ~1,000 terms; one bfloat16 part alone would be off by ~4e-3.
              assertClose(dx, dx64 as Float64Array, 1e-6, 'dx');
              assertClose(dWb, dWb64 as Float64Array, 1e-6, 'dWb');
            } finally {
              delete process.env['BIREAL_BINARY_BACKWARD'];
            }
          });
        }
      }

      const splitRun = (route: string) => {
        const c = cases[0] as (typeof cases)[number];
        process.env['BIREAL_BINARY_BACKWARD'] = route;
        const gradients = binaryConvBackward(
          tf.zeros(c.x),
          tf.ones(c.w),
          tf.zeros(outputShape(c)),
          c.strides,
          c.pad,
        );
        return on('wasm', () => gradients.dWb()).finally(() => {
          delete process.env['BIREAL_BINARY_BACKWARD'];
        });
      };

      test('an unknown BIREAL_BINARY_BACKWARD is an error naming the routes', async () => {
        await assert.rejects(
          splitRun('bf16'),
          /BIREAL_BINARY_BACKWARD must be one of auto, float32, split-bf16, got 'bf16'/,
        );
      });

      test('split-bf16 without AVX-512 is an error naming the instruction set', async (t) => {
        if (splitRuns()) return t.skip(`oneDNN runs ${isa()}: split-bf16 runs here`);
        await assert.rejects(
          splitRun('split-bf16'),
          new RegExp(`needs oneDNN's AVX-512 kernels; they run ${isa()} here`),
        );
      });
    });

    describe('one training step equals the tfjs path on cpu', () => {
      for (const name of ['bireal18', 'resnet18']) {
        test(`${name} (32 px, width 0.25, batch 4): loss, gradients, BatchNorm statistics, Adam`, async () => {
          const batch = 4;
          const { images, labels } = batchData(
            batch,
            MODEL_OPTIONS.inputSize,
            MODEL_OPTIONS.classes,
          );
          const shape: Shape4 = [batch, MODEL_OPTIONS.inputSize, MODEL_OPTIONS.inputSize, 3];

          /**
           * Builds the model on `backend`, computes one step's loss and gradients, then takes two
           * Adam steps with `applied` (the same gradients on both backends: Adam's first step moves
           * every weight by ~lr whatever |g|, so gradients at float-noise level, ~1e-6 of the
           * largest, would flip the sign of some updates) or, where not given, its own.
           */
          const trainOn = async (backend: 'wasm' | 'cpu', applied?: Float32Array[]) => {
            await tf.setBackend(backend);
            const model = createModel(name, MODEL_OPTIONS);
            const initial = weightValues(model);
            const x = tf.tensor4d(images, shape);
            const y = tf.tensor2d(labels, [batch, MODEL_OPTIONS.classes]);
            const native = nativeTrainingKernels();
            const { loss, grads } = lossAndGradients(model, x, y);
            const names = model.trainableWeights.map((w) => (w.read() as tf.Variable).name);
            assert.equal(Object.keys(grads).length, names.length, 'one gradient per weight');
            const gradients = names.map((n) =>
              Float32Array.from((grads[n] as tf.Tensor).dataSync()),
            );
            const stats = model.weights
              .filter((w) => w.originalName.includes('moving'))
              .map((w) => ({
                name: w.originalName,
                values: Float32Array.from(w.read().dataSync()),
              }));
            const optimizer = createOptimizer({ type: 'adam', lr: 1e-3, weightDecay: 0 }, 1e-3);
            const named = names.map((n, i) => ({
              name: n,
              tensor: tf.tensor((applied ?? gradients)[i] as Float32Array, grads[n]?.shape),
            }));
            optimizer.applyGradients(named);
            optimizer.applyGradients(named); // step 2: the bias corrections move on
            const trainable = model.trainableWeights.map((w) => ({
              name: w.originalName,
              values: Float32Array.from(w.read().dataSync()),
            }));
            tf.dispose([grads, x, y, named.map((g) => g.tensor)]);
            optimizer.dispose();
            model.dispose();
            await tf.setBackend('wasm');
            return { native, initial, loss, gradients, names, stats, trainable };
          };

          const b = await trainOn('cpu');
          const a = await trainOn('wasm', b.gradients);
          assert.ok(a.native, 'model A trains on the native kernels');
          assert.ok(!b.native, 'model B trains on the tfjs path');
          assert.equal(a.initial.length, b.initial.length);
          a.initial.forEach((w, i) => assert.deepEqual(w, b.initial[i], `initial weight ${i}`));

          assert.ok(
            Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(b.loss),
            `loss ${a.loss} (native) vs ${b.loss} (cpu)`,
          );
          assert.equal(a.gradients.length, b.gradients.length);
          a.gradients.forEach((g, i) =>
            assertClose(g, b.gradients[i] as Float32Array, 1e-3, `gradient of ${a.names[i]}`),
          );
          assert.ok(a.stats.length > 0);
          a.stats.forEach((s, i) => {
            const expected = (b.stats[i] as { values: Float32Array }).values;
            // Some moving means stay ~1e-8 (zero-mean inputs): 1e-4 relative, or 1e-6 absolute.
            const diff = relError(s.values, expected) * Math.max(...expected.map(Math.abs));
            assert.ok(
              relError(s.values, expected) < 1e-4 || diff < 1e-6,
              `${s.name}: relative error ${relError(s.values, expected)}, absolute ${diff}`,
            );
          });
          a.trainable.forEach((w, i) =>
            assertClose(
              w.values,
              (b.trainable[i] as { values: Float32Array }).values,
              1e-5,
              `${w.name} after two Adam steps`,
            ),
          );
        });
      }
    });

    test('no tensor or native memory growth over 8 training steps of bireal18', () => {
      assert.equal(tf.getBackend(), 'wasm');
      assert.ok(nativeTrainingKernels());
      const batch = 4;
      const model = createModel('bireal18', { ...MODEL_OPTIONS, seed: 3 });
      const optimizer = createOptimizer({ type: 'adam', lr: 1e-3, weightDecay: 0 }, 1e-3);
      const step = createTrainStep(model, optimizer);
      const { images, labels } = batchData(batch, MODEL_OPTIONS.inputSize, MODEL_OPTIONS.classes);
      const x = tf.tensor4d(images, [batch, MODEL_OPTIONS.inputSize, MODEL_OPTIONS.inputSize, 3]);
      const y = tf.tensor2d(labels, [batch, MODEL_OPTIONS.classes]);
      step(x, y);
      step(x, y); // warm-up: Adam's moments, oneDNN's primitives, wasm heap growth
      const { numTensors, numBytes } = tf.memory();
      const buffers = tf.engine().backend.numDataIds();
      let rss = 0;
      for (let i = 3; i <= 10; i++) {
        const loss = step(x, y);
        assert.ok(Number.isFinite(loss), `step ${i}: loss ${loss}`);
        assert.equal(tf.memory().numTensors, numTensors, `tensors after step ${i}`);
        assert.equal(tf.memory().numBytes, numBytes, `bytes after step ${i}`);
        assert.equal(tf.engine().backend.numDataIds(), buffers, `wasm buffers after step ${i}`);
        if (i === 3) rss = process.memoryUsage().rss;
      }
      const growth = (process.memoryUsage().rss - rss) / 2 ** 20;
      assert.ok(growth < 64, `rss grew ${growth.toFixed(1)} MB from step 3 to step 10`);
      tf.dispose([x, y]);
      optimizer.dispose();
      model.dispose();
    });

    describe('bad inputs give clear errors', () => {
      /** The addon itself, loaded when a test needs it (a missing addon fails the hook above). */
      const load = () => {
        const require = createRequire(import.meta.url);
        // From dist/test/ (compiled) to the repository's native/ folder.
        const path = new URL('../../native/build/Release/bireal_native.node', import.meta.url);
        return require(path.pathname) as {
          conv(kind: number, shape: number[], ...buffers: unknown[]): void;
          sign(x: unknown, out: unknown): void;
          batchNormForward(rows: number, channels: number, eps: number, ...b: unknown[]): void;
          adam(hyper: number[], ...buffers: unknown[]): void;
        };
      };
      // 1 x 4 x 4 x 2 input, 3 x 3 x 2 x 2 filter, stride 1, padding 1: 32, 36 and 32 elements.
      const shape = [1, 4, 4, 2, 3, 3, 2, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1];
      const f = (n: number) => new Float32Array(n);

      test('conv with a wrong-length buffer', () => {
        const addon = load();
        assert.doesNotThrow(() => addon.conv(0, shape, f(32), f(36), f(32)));
        assert.throws(
          () => addon.conv(0, shape, f(31), f(36), f(32)),
          /conv x has 31 elements, expected 32/,
        );
        assert.throws(() => addon.conv(1, shape, f(32), f(35), f(32)), /conv w .*expected 36/);
        assert.throws(() => addon.conv(2, shape, f(32), f(36), f(64)), /conv y .*expected 32/);
      });

      test('conv with a bad shape, kind or buffer type', () => {
        const addon = load();
        assert.throws(() => addon.conv(0, shape.slice(1), f(32), f(36), f(32)), /array of 17/);
        assert.throws(() => addon.conv(3, shape, f(32), f(36), f(32)), /unknown kind/);
        assert.throws(
          () => addon.conv(0, shape, new Float64Array(32), f(36), f(32)),
          /must be a Float32Array/,
        );
      });

      test('element-wise kernels, batch normalization and adam with wrong lengths', () => {
        const addon = load();
        assert.throws(() => addon.sign(f(10), f(9)), /expected 10/);
        assert.throws(
          () => addon.batchNormForward(4, 3, 1e-3, f(12), f(3), f(3), f(12), f(2), f(3)),
          /per-channel vector has 2 elements, expected 3/,
        );
        assert.throws(
          () => addon.adam([0.9, 0.999], f(4), f(4), f(4), f(4), f(4), f(4), f(4)),
          /hyper/,
        );
        assert.throws(
          () =>
            addon.adam(
              [0.9, 0.999, 1e-3, 1e-7, 0.1, 0.001],
              f(4),
              f(4),
              f(4),
              f(3),
              f(4),
              f(4),
              f(4),
            ),
          /adam buffer has 3 elements, expected 4/,
        );
      });

      test('a kernel with an unknown attribute fails without leaking', () => {
        const before = tf.memory().numTensors;
        const x = tf.tensor1d([0.5, -2]);
        assert.throws(
          () => runKernel(NATIVE_KERNELS.estimatorGrad, { dy: x, x }, { estimator: 'nope' }),
          /unknown estimator/,
        );
        x.dispose();
        assert.equal(tf.memory().numTensors, before);
      });
    });
  },
);
