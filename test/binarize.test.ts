import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {
  BINARIZERS,
  ESTIMATORS,
  binarizeActivation,
  binarizeWeight,
  channelScale,
  signPlusMinusOne,
} from '../src/binarize/index.js';
import { initBackend } from '../src/backend/index.js';

// Points that include every boundary of the estimators: -1, 0, 1 and just around them.
const POINTS = [
  -3, -1.5, -1.0001, -1, -0.9999, -0.75, -0.5, -0.25, -1e-6, 0, 1e-6, 0.25, 0.5, 0.9999, 1, 1.0001,
  2,
];

const closedForm: Record<(typeof ESTIMATORS)[number], (x: number) => number> = {
  ste: () => 1,
  'clipped-ste': (x) => (Math.abs(x) <= 1 ? 1 : 0),
  'approx-sign': (x) => (x >= -1 && x < 0 ? 2 + 2 * x : x >= 0 && x < 1 ? 2 - 2 * x : 0),
};

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(
      Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)),
      `${what}[${i}]: got ${a}, expected ${e}`,
    );
  }
}

before(async () => {
  await initBackend({ log: false });
});

describe('signPlusMinusOne and binarizeActivation forward', () => {
  it('maps negatives to -1 and zero and positives to +1', () => {
    const x = tf.tensor1d([-2, -1, -1e-7, 0, -0, 1e-7, 1, 3]);
    assert.deepEqual(Array.from(signPlusMinusOne(x).dataSync()), [-1, -1, -1, 1, 1, 1, 1, 1]);
    for (const estimator of ESTIMATORS) {
      assert.deepEqual(
        Array.from(binarizeActivation(x, estimator).dataSync()),
        [-1, -1, -1, 1, 1, 1, 1, 1],
      );
    }
  });

  it('rejects an unknown estimator with the valid names', () => {
    assert.throws(
      () => binarizeActivation(tf.ones([2]), 'bogus' as never),
      /ste, clipped-ste, approx-sign/,
    );
  });
});

describe('binarizeActivation gradients', () => {
  for (const estimator of ESTIMATORS) {
    it(`${estimator}: dy * closed form at every point, boundaries included`, () => {
      const x = tf.tensor1d(POINTS);
      const dy = tf.tensor1d(POINTS.map((_, i) => 0.5 + i)); // a non-constant upstream gradient
      const grad = tf.grad((t: tf.Tensor) => binarizeActivation(t, estimator))(x, dy);
      const expected = POINTS.map((p, i) => (0.5 + i) * closedForm[estimator](p));
      assertClose(grad.dataSync(), expected, 1e-6, estimator);
    });
  }

  it('approx-sign is the derivative of the piecewise polynomial F (finite differences)', () => {
    const F = (x: number) => (x < -1 ? -1 : x < 0 ? 2 * x + x * x : x < 1 ? 2 * x - x * x : 1);
    const inner = POINTS.filter((p) => Math.abs(Math.abs(p) - 1) > 1e-3 && Math.abs(p) > 1e-3);
    const h = 1e-4;
    const numeric = inner.map((p) => (F(p + h) - F(p - h)) / (2 * h));
    const grad = tf.grad((t: tf.Tensor) => binarizeActivation(t, 'approx-sign'))(
      tf.tensor1d(inner),
    );
    assertClose(grad.dataSync(), numeric, 1e-3, 'approx-sign vs dF/dx');
  });
});

describe('binarizeWeight', () => {
  // A conv kernel [kh=1, kw=2, cIn=2, cOut=3] whose values hit -1, 0, +1 and both sides of them.
  const values = [-1, 0, 1, 0.5, -0.25, 1.5, -2, 0.999, -0.999, 1.001, 0.1, -0.1];
  const shape: [number, number, number, number] = [1, 2, 2, 3];
  const alphas = [0, 1, 2].map((c) => {
    const column = values.filter((_, i) => i % 3 === c);
    return column.reduce((a, v) => a + Math.abs(v), 0) / column.length;
  });

  it('channelScale is mean |W| over all axes but the output channel', () => {
    assertClose(channelScale(tf.tensor4d(values, shape)).dataSync(), alphas, 1e-6, 'alpha');
  });

  for (const binarizer of BINARIZERS) {
    it(`${binarizer}: forward is (alpha *) sign(W) with sign(0) = +1`, () => {
      const out = binarizeWeight(tf.tensor4d(values, shape), binarizer).dataSync();
      const expected = values.map(
        (v, i) => (v >= 0 ? 1 : -1) * (binarizer === 'sign' ? 1 : (alphas[i % 3] as number)),
      );
      assertClose(out, expected, 1e-6, binarizer);
    });

    it(`${binarizer}: gradient equals its closed form, boundaries included`, () => {
      const dy = values.map((_, i) => 1 + 0.1 * i);
      const grad = tf.grad((w: tf.Tensor) => binarizeWeight(w, binarizer))(
        tf.tensor4d(values, shape),
        tf.tensor4d(dy, shape),
      );
      const expected = values.map((v, i) => {
        const d = dy[i] as number;
        if (binarizer === 'magnitude-aware')
          return Math.abs(v) < 1 ? d * (alphas[i % 3] as number) : 0;
        return Math.abs(v) <= 1 ? d : 0; // sign, scaled and the authors' variant: clipped STE
      });
      assertClose(grad.dataSync(), expected, 1e-6, binarizer);
    });
  }

  it('magnitude-aware gradient matches finite differences of its surrogate alpha * clip(W, -1, 1)', () => {
    // Away from the kinks at |W| = 1, where the surrogate has no derivative.
    const w = Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7) * 1.6).map((v) =>
      Math.abs(Math.abs(v) - 1) < 0.01 ? v + 0.05 : v,
    );
    const shape2: [number, number, number, number] = [2, 2, 2, 3];
    const dy = w.map((_, i) => Math.cos(i));
    const alpha = [0, 1, 2].map((c) => {
      const column = w.filter((_, i) => i % 3 === c);
      return column.reduce((a, v) => a + Math.abs(v), 0) / column.length;
    });
    const surrogate = (ws: number[]) =>
      ws.reduce(
        (acc, v, i) =>
          acc + (dy[i] as number) * (alpha[i % 3] as number) * Math.min(1, Math.max(-1, v)),
        0,
      );
    const h = 1e-4;
    const numeric = w.map((_, i) => {
      const plus = [...w];
      const minus = [...w];
      plus[i] = (plus[i] as number) + h;
      minus[i] = (minus[i] as number) - h;
      return (surrogate(plus) - surrogate(minus)) / (2 * h);
    });
    const grad = tf.grad((t: tf.Tensor) => binarizeWeight(t, 'magnitude-aware'))(
      tf.tensor4d(w, shape2),
      tf.tensor4d(dy, shape2),
    );
    assertClose(grad.dataSync(), numeric, 1e-3, 'magnitude-aware vs finite differences');
  });

  it('rejects an unknown binarizer with the valid names', () => {
    assert.throws(
      () => binarizeWeight(tf.ones([2, 2]), 'xnor' as never),
      /sign, scaled, magnitude-aware/,
    );
  });
});
