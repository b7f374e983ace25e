/**
 * 1-bit binarization of activations and weights with the gradient estimators of Bi-Real Net
 * (Liu et al., ECCV 2018) and its baselines. Each function is a forward sign plus a custom
 * backward pass, written with `tf.customGrad`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Gradient estimators for the activation sign, by name. */
export const ESTIMATORS = ['ste', 'clipped-ste', 'approx-sign'] as const;
/** How the backward pass approximates d sign(x) / dx. */
export type Estimator = (typeof ESTIMATORS)[number];

/** Weight binarizers, by name. */
export const BINARIZERS = ['sign', 'scaled', 'magnitude-aware', 'magnitude-aware-authors'] as const;
/** How weights are binarized (forward) and how their gradient is passed (backward). */
export type Binarizer = (typeof BINARIZERS)[number];

/** Throws a clear error unless `name` is one of `valid`; returns it typed. */
export function checkName<T extends string>(kind: string, name: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(name)) {
    throw new Error(`unknown ${kind} '${name}'; valid: ${valid.join(', ')}`);
  }
  return name as T;
}

/**
 * sign(x) with sign(0) = +1, so every output is exactly -1 or +1, as -step(-x) with step's
 * value -1 for inputs <= 0. Not built on `tf.sign`: sign(0) is 0 there, and the wasm backend's
 * Sign also returns 0 for |x| up to ~1.2e-7. (`tf.where` with scalar branches is correct but
 * tiles both scalars to the full shape: 10x slower.)
 * @param x - any tensor.
 */
export function signPlusMinusOne<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.neg(tf.step(tf.neg(x), -1))) as T;
}

type UnaryForward = (
  x: tf.Tensor,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor };

/** `tf.customGrad` for a one-input function, with precise types. */
function unaryCustomGrad(forward: UnaryForward): (x: tf.Tensor) => tf.Tensor {
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x) => op(x);
}

/** 1{|x| <= 1} as float: the derivative of clip(x, -1, 1) with the boundary included. */
function insideClosedUnit(x: tf.Tensor): tf.Tensor {
  return tf.cast(tf.lessEqual(tf.abs(x), 1), 'float32');
}

/** 1{|x| < 1} as float: the boundary excluded. */
function insideOpenUnit(x: tf.Tensor): tf.Tensor {
  return tf.cast(tf.less(tf.abs(x), 1), 'float32');
}

/**
 * The backward factor d sign(x)/dx of each estimator:
 * - `ste`: 1 everywhere (straight-through);
 * - `clipped-ste`: 1{|x| <= 1}, the derivative of clip(x, -1, 1);
 * - `approx-sign`: Bi-Real's ApproxSign, the derivative of the piecewise quadratic
 *   F(x) = -1 (x < -1), 2x + x^2 (-1 <= x < 0), 2x - x^2 (0 <= x < 1), 1 (x >= 1),
 *   i.e. max(0, 2 - 2|x|).
 * @param x - the input of the sign.
 * @param estimator - which stand-in: `ste`, `clipped-ste` or `approx-sign`.
 */
export function estimatorGradient(x: tf.Tensor, estimator: Estimator): tf.Tensor {
  return tf.tidy(() => {
    switch (estimator) {
      case 'ste':
        return tf.onesLike(x);
      case 'clipped-ste':
        return insideClosedUnit(x);
      case 'approx-sign':
        return tf.relu(tf.sub(2, tf.mul(2, tf.abs(x))));
    }
  });
}

/**
 * Binarizes activations: forward sign(x) in {-1, +1} (sign(0) = +1); backward
 * dy * {@link estimatorGradient}(x, estimator).
 * @param x - the activations.
 * @param estimator - the backward rule: `ste`, `clipped-ste` or `approx-sign`.
 */
export function binarizeActivation<T extends tf.Tensor>(x: T, estimator: Estimator): T {
  checkName('estimator', estimator, ESTIMATORS);
  const op = unaryCustomGrad((input, save) => {
    save([input]);
    return {
      value: signPlusMinusOne(input),
      gradFunc: (dy, saved) => tf.mul(dy, estimatorGradient(saved[0] as tf.Tensor, estimator)),
    };
  });
  return op(x) as T;
}

/**
 * alpha = mean(|W|) per output channel: over every axis but the last, which is the output-channel
 * axis of a tfjs conv kernel [kh, kw, cIn, cOut] and of a dense kernel [in, out].
 * @param w - the real weights, output channels on the last axis.
 */
export function channelScale(w: tf.Tensor): tf.Tensor {
  const axes = w.shape.slice(0, -1).map((_, axis) => axis);
  return tf.tidy(() => tf.mean(tf.abs(w), axes, true));
}

/** The forward value of a weight binarizer: sign(W), or alpha * sign(W) for the scaled ones. */
export function binarizedWeight(w: tf.Tensor, binarizer: Binarizer): tf.Tensor {
  return tf.tidy(() =>
    binarizer === 'sign' ? signPlusMinusOne(w) : tf.mul(signPlusMinusOne(w), channelScale(w)),
  );
}

/** dL/dW from dL/dWb under a binarizer's backward rule (see {@link binarizeWeight}). */
export function weightGradient(dWb: tf.Tensor, w: tf.Tensor, binarizer: Binarizer): tf.Tensor {
  return tf.tidy(() =>
    binarizer === 'magnitude-aware'
      ? tf.mul(tf.mul(dWb, channelScale(w)), insideOpenUnit(w))
      : tf.mul(dWb, insideClosedUnit(w)),
  );
}

/**
 * Binarizes weights. All variants take W of shape [..., cOut] and return a tensor of the same
 * shape; `alpha` below is {@link channelScale}(W), treated as a constant in the backward pass.
 *
 * | binarizer | forward | backward dL/dW |
 * |---|---|---|
 * | `sign` | sign(W) | dL/dWb * 1{abs(W) <= 1} (clipped STE, as in BNN) |
 * | `scaled` | alpha * sign(W) (XNOR-Net's forward) | dL/dWb * 1{abs(W) <= 1} (clipped STE; XNOR-Net's own gradient also carries alpha and a 1/n term) |
 * | `magnitude-aware` | alpha * sign(W) | dL/dWb * alpha * 1{abs(W) < 1} (the paper; Larq's `MagnitudeAwareSign`) |
 * | `magnitude-aware-authors` | alpha * sign(W) | dL/dWb * 1{abs(W) <= 1} (the authors' PyTorch code) |
 *
 * The paper's magnitude-aware gradient scales the sign's clipped-STE gradient by alpha, the
 * derivative of alpha * clip(W, -1, 1) with alpha held constant. The authors' released PyTorch
 * code builds `alpha*sign(W)` detached plus `clamp(W,-1,1) - clamp(W,-1,1).detach()`, which
 * passes dL/dWb * 1{-1 <= W <= 1}: no alpha factor and the boundary included. That is
 * numerically the same rule as `scaled`; it keeps its own name so experiments can say which
 * reference they follow. Since alpha is the mean of |W| and weights are usually far below 1,
 * the paper's rule makes weight updates roughly alpha times smaller for plain SGD (Adam largely
 * cancels a constant per-channel factor).
 * @param w - the latent real weights, output channels on the last axis.
 * @param binarizer - the forward and backward rule (table above).
 */
export function binarizeWeight<T extends tf.Tensor>(w: T, binarizer: Binarizer): T {
  checkName('binarizer', binarizer, BINARIZERS);
  const op = unaryCustomGrad((input, save) => {
    save([input]);
    return {
      value: binarizedWeight(input, binarizer),
      gradFunc: (dy, saved) => weightGradient(dy, saved[0] as tf.Tensor, binarizer),
    };
  });
  return op(w) as T;
}
