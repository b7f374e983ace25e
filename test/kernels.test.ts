/**
 * Tests of src/backend/kernels.ts: the conv gradients and max-pool gradient registered on wasm
 * (and Conv2DBackpropFilter on cpu) against naive JS loops and against the cpu backend's own
 * MaxPoolGrad, on random shapes with negative values; AvgPoolGrad (wasm, cpu) against a float64
 * reference where padding cuts windows; plus ties, leaks and idempotency.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers all of them.
import '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { registerTrainingKernels } from '../src/backend/kernels.js';
import { random, relError, size, type Pad, type Shape4 } from './kernel-helpers.js';

/** Naive float64 gradients of y = conv2d(x, w) (NHWC, dilation 1) for a given dy. */
function naiveConvGrads(
  x: Float32Array,
  xShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  dy: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): { dx: Float64Array; dw: Float64Array } {
  const [n, h, wd, cin] = xShape;
  const [kh, kw, , cout] = wShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < n; b++) {
    for (let yr = 0; yr < oh; yr++) {
      for (let yc = 0; yc < ow; yc++) {
        for (let fr = 0; fr < kh; fr++) {
          const xr = yr * sh + fr - top;
          if (xr < 0 || xr >= h) continue;
          for (let fc = 0; fc < kw; fc++) {
            const xc = yc * sw + fc - left;
            if (xc < 0 || xc >= wd) continue;
            for (let ci = 0; ci < cin; ci++) {
              const xi = ((b * h + xr) * wd + xc) * cin + ci;
              for (let co = 0; co < cout; co++) {
                const g = dy[((b * oh + yr) * ow + yc) * cout + co] as number;
                const wi = ((fr * kw + fc) * cin + ci) * cout + co;
                dx[xi] = (dx[xi] as number) + g * (w[wi] as number);
                dw[wi] = (dw[wi] as number) + g * (x[xi] as number);
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}

interface ConvCase {
  x: Shape4;
  w: Shape4;
  strides: number | [number, number];
  pad: Pad;
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 7, 7, 3], w: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [3, 9, 8, 5], w: [3, 3, 5, 6], strides: 1, pad: 'valid' },
  { x: [2, 7, 7, 3], w: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 8, 8, 4], w: [3, 3, 4, 5], strides: 2, pad: 'same' },
  { x: [2, 8, 8, 3], w: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { x: [3, 6, 6, 4], w: [1, 1, 4, 6], strides: 1, pad: 'same' },
  { x: [3, 8, 8, 4], w: [1, 1, 4, 6], strides: 2, pad: 'same' },
  { x: [3, 9, 9, 4], w: [1, 1, 4, 6], strides: 2, pad: 'valid' },
  { x: [2, 15, 15, 3], w: [7, 7, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 11, 10, 2], w: [7, 7, 2, 3], strides: 1, pad: 'same' },
  { x: [2, 10, 9, 3], w: [3, 3, 3, 2], strides: [1, 2], pad: 'same' },
  { x: [2, 10, 11, 3], w: [3, 2, 3, 2], strides: [3, 2], pad: 'valid' },
  {
    x: [2, 6, 7, 3],
    w: [3, 3, 3, 2],
    strides: 2,
    pad: [
      [0, 0],
      [2, 1],
      [0, 3],
      [0, 0],
    ],
  },
  {
    x: [2, 6, 7, 3],
    w: [2, 2, 3, 2],
    strides: 3,
    pad: [
      [0, 0],
      [4, 0],
      [0, 5],
      [0, 0],
    ],
  },
  {
    x: [2, 5, 6, 2],
    w: [3, 3, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [0, 4],
      [3, 0],
      [0, 0],
    ],
  },
  { x: [1, 5, 5, 2], w: [5, 5, 2, 3], strides: 1, pad: 'valid' },
  {
    x: [2, 5, 5, 3],
    w: [1, 1, 3, 4],
    strides: 2,
    pad: [
      [0, 0],
      [1, 0],
      [0, 1],
      [0, 0],
    ],
  },
];

const label = (c: ConvCase): string =>
  `x ${c.x} w ${c.w} s ${JSON.stringify(c.strides)} ${JSON.stringify(c.pad)}`;

/** dx, dW of sum(conv2d(x, w) * dy) on the current backend, plus the naive reference. */
function convGrads(c: ConvCase, seed: number, fused = false) {
  const xv = random(size(c.x), seed);
  const wv = random(size(c.w), seed + 1);
  const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad);
  const dyv = random(size(info.outShape), seed + 2);
  const [dx, dw] = tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const w = tf.tensor4d(wv, c.w);
    const dy = tf.tensor4d(dyv, info.outShape);
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
      const y = fused
        ? tf.fused.conv2d({
            x: a as tf.Tensor4D,
            filter: b as tf.Tensor4D,
            strides: c.strides,
            pad: c.pad,
            bias: tf.zeros([c.w[3]]),
          })
        : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad);
      return tf.sum(tf.mul(y, dy));
    };
    const grads = tf.grads(f)([x, w]);
    return [grads[0] as tf.Tensor, grads[1] as tf.Tensor];
  });
  assert.deepEqual(dx.shape, c.x, 'dx shape');
  assert.deepEqual(dw.shape, c.w, 'dW shape');
  const out = { dx: dx.dataSync(), dw: dw.dataSync() };
  tf.dispose([dx, dw]);
  return { ...out, ref: naiveConvGrads(xv, c.x, wv, c.w, dyv, info) };
}

interface PoolCase {
  x: Shape4;
  filter: number;
  stride: number;
  pad: 'same' | 'valid';
  levels?: number;
}

const POOL_CASES: PoolCase[] = [
  { x: [2, 15, 15, 5], filter: 3, stride: 2, pad: 'same' }, // Bi-Real / ResNet stem, odd size
  { x: [2, 16, 16, 8], filter: 3, stride: 2, pad: 'same' }, // stem, even size
  { x: [3, 9, 10, 3], filter: 3, stride: 1, pad: 'same' },
  { x: [2, 9, 9, 4], filter: 2, stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 4], filter: 3, stride: 2, pad: 'same', levels: 3 }, // many ties
  { x: [2, 7, 7, 3], filter: 3, stride: 2, pad: 'same', levels: 1 }, // all equal
];

/** Pool input: random in [-1, 1), or `levels` distinct negative values (ties). */
function poolInput(c: PoolCase, seed: number): Float32Array {
  const v = random(size(c.x), seed);
  if (c.levels === undefined) return v;
  const levels = c.levels;
  return v.map((u) => -1 - Math.floor(((u + 1) / 2) * levels));
}

/** dx of sum(maxPool(x) * dy) on backend `name`. */
async function maxPoolGrad(name: string, c: PoolCase, xv: Float32Array, dyv: Float32Array) {
  await tf.setBackend(name);
  const dx = tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const y = tf.maxPool(x, c.filter, c.stride, c.pad);
    const dy = tf.tensor(dyv, y.shape);
    return tf.grad((a: tf.Tensor) =>
      tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.filter, c.stride, c.pad), dy)),
    )(x);
  });
  const out = dx.dataSync();
  dx.dispose();
  return out;
}

function poolOutShape(c: PoolCase): number[] {
  return tf.backend_util.computePool2DInfo(c.x, c.filter, c.stride, 1, c.pad).outShape;
}

/** Runs `fn` and checks it leaves no tensors or backend buffers behind. */
function assertNoLeak(fn: () => void): void {
  fn(); // warm-up: lazily created constants
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  fn();
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), buffers, 'backend buffers leaked');
}

const TOL = 1e-4;

before(async () => {
  await initBackend({ backend: 'cpu', log: false });
  // These tests cover the wasm kernels of kernels.ts (the fallback where the native addon is off);
  // test/native.test.ts covers the native ones.
  await initBackend({ backend: 'wasm', log: false, native: false });
});

describe('wasm conv gradients (conv-based kernels) match naive loops', () => {
  before(async () => {
    await tf.setBackend('wasm');
  });
  CONV_CASES.forEach((c, i) => {
    test(label(c), () => {
      const { dx, dw, ref } = convGrads(c, 100 + i);
      assert.ok(relError(dx, ref.dx) < TOL, `dx error ${relError(dx, ref.dx)}`);
      assert.ok(relError(dw, ref.dw) < TOL, `dW error ${relError(dw, ref.dw)}`);
    });
  });
  test('fused conv2d with bias', () => {
    const c = CONV_CASES[3] as ConvCase;
    const { dx, dw, ref } = convGrads(c, 7, true);
    assert.ok(relError(dx, ref.dx) < TOL && relError(dw, ref.dw) < TOL);
  });
});

describe('cpu conv gradients match naive loops', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  for (const i of [0, 2, 4, 7, 8, 11, 12]) {
    const c = CONV_CASES[i] as ConvCase;
    test(label(c), () => {
      const { dx, dw, ref } = convGrads(c, 200 + i);
      assert.ok(relError(dx, ref.dx) < TOL, `dx error ${relError(dx, ref.dx)}`);
      assert.ok(relError(dw, ref.dw) < TOL, `dW error ${relError(dw, ref.dw)}`);
    });
  }
});

describe('wasm MaxPoolGrad matches the cpu backend (negative values, ties)', () => {
  POOL_CASES.forEach((c, i) => {
    test(`x ${c.x} ${c.filter}x${c.filter}/${c.stride} ${c.pad} levels ${c.levels ?? 'any'}`, async () => {
      const xv = poolInput(c, 300 + i);
      const dyv = random(size(poolOutShape(c)), 400 + i);
      const expected = await maxPoolGrad('cpu', c, xv, dyv);
      const actual = await maxPoolGrad('wasm', c, xv, dyv);
      assert.ok(relError(actual, expected) < 1e-6, `error ${relError(actual, expected)}`);
      // Every dy lands on exactly one input element.
      const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum(actual) - sum(dyv)) < 1e-4);
    });
  });
});

/**
 * Float64 gradient of y = avgPool(x) as tfjs' AvgPool computes y: each window's sum divided by
 * its cells inside the input.
 */
function naiveAvgPoolGrad(c: PoolCase, dy: Float32Array): Float64Array {
  const info = tf.backend_util.computePool2DInfo(c.x, c.filter, c.stride, 1, c.pad);
  const [n, h, w, ch] = c.x;
  const { outHeight: oh, outWidth: ow, padInfo } = info;
  const dx = new Float64Array(size(c.x));
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const rows = [...Array(c.filter).keys()].map((u) => i * c.stride + u - padInfo.top);
        const columns = [...Array(c.filter).keys()].map((t) => j * c.stride + t - padInfo.left);
        const cells = rows
          .filter((r) => r >= 0 && r < h)
          .flatMap((r) => columns.filter((q) => q >= 0 && q < w).map((q) => [r, q] as const));
        for (const [r, q] of cells) {
          for (let k = 0; k < ch; k++) {
            const at = ((b * h + r) * w + q) * ch + k;
            dx[at] =
              (dx[at] as number) + (dy[((b * oh + i) * ow + j) * ch + k] as number) / cells.length;
          }
        }
      }
    }
  }
  return dx;
}

describe('AvgPoolGrad is the gradient of AvgPool where padding cuts windows (wasm and cpu)', () => {
  const cases: PoolCase[] = [
    { x: [2, 7, 7, 3], filter: 2, stride: 2, pad: 'same' }, // the shortcut's pool at an odd size
    { x: [1, 9, 8, 4], filter: 3, stride: 2, pad: 'same' },
    { x: [2, 8, 8, 3], filter: 2, stride: 2, pad: 'same' }, // no cut window: tfjs' own kernel
  ];
  for (const backend of ['wasm', 'cpu'] as const) {
    cases.forEach((c, i) => {
      test(`${backend}: x ${c.x} ${c.filter}x${c.filter}/${c.stride} ${c.pad}`, async () => {
        await tf.setBackend(backend);
        const xv = random(size(c.x), 500 + i);
        const dyv = random(size(poolOutShape(c)), 600 + i);
        const dx = tf.tidy(() => {
          const f = (x: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.avgPool(x as tf.Tensor4D, c.filter, c.stride, c.pad),
                tf.tensor(dyv, poolOutShape(c)),
              ),
            );
          return tf.grad(f)(tf.tensor4d(xv, c.x));
        });
        const actual = dx.dataSync() as Float32Array;
        dx.dispose();
        const expected = naiveAvgPoolGrad(c, dyv);
        assert.ok(relError(actual, expected) < 1e-6, `error ${relError(actual, expected)}`);
      });
    });
  }
});

describe('kernels leak nothing', () => {
  for (const name of ['wasm', 'cpu']) {
    test(name, async () => {
      await tf.setBackend(name);
      for (const c of [CONV_CASES[0], CONV_CASES[3], CONV_CASES[6], CONV_CASES[12]]) {
        assertNoLeak(() => {
          convGrads(c as ConvCase, 1);
        });
      }
      const pool = POOL_CASES[0] as PoolCase;
      const xv = poolInput(pool, 1);
      const dyv = random(size(poolOutShape(pool)), 2);
      await maxPoolGrad(name, pool, xv, dyv);
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      await maxPoolGrad(name, pool, xv, dyv);
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(tf.engine().backend.numDataIds(), buffers);
    });
  }
});

describe('registration', () => {
  test('is idempotent, silent and a no-op for other backends', () => {
    const before = ['wasm', 'cpu'].map((b) => tf.getKernel('Conv2DBackpropFilter', b)?.kernelFunc);
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args);
    try {
      registerTrainingKernels('wasm');
      registerTrainingKernels('cpu');
      registerTrainingKernels('tensorflow');
      registerTrainingKernels('webgl');
    } finally {
      console.warn = warn;
    }
    const after = ['wasm', 'cpu'].map((b) => tf.getKernel('Conv2DBackpropFilter', b)?.kernelFunc);
    assert.deepEqual(after, before);
    assert.equal(warnings.length, 0);
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'tensorflow'), undefined);
    assert.ok(tf.getKernel('MaxPoolGrad', 'wasm') !== undefined);
  });
});
