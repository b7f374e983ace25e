/**
 * Layer-wise backpropagation for the models of this library: a training forward pass and a
 * hand-written backward pass per layer type, walking a tfjs-layers model's graph.
 *
 * Why not `tf.variableGrads`? tfjs's tape records every elementary op, keeps each op's saved
 * inputs and every intermediate gradient until the whole backward pass ends, and clones what it
 * saves. For Bi-Real-18 at 224 px and batch 32 that exceeds the wasm backend's 4 GB heap. Here
 * each layer saves only what its backward needs (usually its input), and every activation and
 * gradient is freed as soon as the backward pass is past it. The gradients are the same as
 * tfjs's autodiff of the same layers (tested), including the estimators and weight binarizers.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  binarizeActivation,
  binarizeWeight,
  estimatorGradient,
  signPlusMinusOne,
  weightGradient,
} from '../binarize/index.js';
import { leakyClip, type BinaryConv2D, type Clip } from '../layers/index.js';
import {
  NATIVE_KERNELS,
  binaryConvBackward,
  hasKernel,
  nativeTrainingKernels,
} from '../backend/native.js';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

/** Runs one of the native training steps (`NATIVE_KERNELS`) on the active backend. */
function runNative<T = tf.Tensor>(name: string, inputs: tf.NamedTensorMap, attrs = {}): T {
  return tf.engine().runKernel(name, inputs, attrs as never) as unknown as T;
}

/** A layer's forward result: its output and the tensors its backward pass will need. */
interface Forward {
  output: tf.Tensor;
  saved: tf.Tensor[];
}

/** A layer's backward result: input gradients (null where not wanted) and weight gradients. */
interface Backward {
  dxs: (tf.Tensor | null)[];
  dWeights: [tfl.LayerVariable, tf.Tensor][];
}

/**
 * Sums over the examples of a batch that is split across data-parallel replicas (see
 * `src/parallel`): every replica calls `allReduceSum` with its local sums, in the same order, and
 * gets the element-wise sums over all replicas, identical on every replica.
 */
export interface Collective {
  /**
   * Element-wise sums of `values` over all replicas (same length; blocks until all call).
   * @param values - this replica's sums.
   */
  allReduceSum(values: Float32Array): Float32Array;
}

/** What the batch-wide layers (BatchNorm) need to know about the whole batch. */
interface BatchContext {
  /** The sums over every replica of per-replica partial sums (1-D), in one all-reduce. */
  allSum(...partials: tf.Tensor1D[]): tf.Tensor1D[];
  /** Examples in the whole batch / examples in this replica's part. */
  batchScale: number;
  /**
   * Whether the fused native steps (`NATIVE_KERNELS`) run batch normalization and the 1-bit
   * layers' element-wise work: the whole batch is on this thread and the addon is loaded.
   */
  native: boolean;
  /** Whether the 1-bit convolutions run on the native popcount kernel (with or without replicas). */
  popcount: boolean;
}

/** Forward (training mode) and backward of one layer type. Both run inside `tf.tidy`. */
interface LayerRule {
  forward(layer: Layer, inputs: tf.Tensor[], batch: BatchContext): Forward;
  backward(
    layer: Layer,
    dy: tf.Tensor,
    saved: tf.Tensor[],
    needDx: boolean[],
    batch: BatchContext,
  ): Backward;
  /**
   * Whether {@link recompute} makes the forward output again from the saved tensors, exactly and
   * cheaply: then a layer after it need not keep that output for its own backward pass.
   */
  recomputes?(batch: BatchContext): boolean;
  recompute?(layer: Layer, saved: tf.Tensor[], batch: BatchContext): tf.Tensor;
}

function weight(layer: Layer, name: string): tfl.LayerVariable {
  const found = layer.weights.find((w) => w.originalName.split('/').pop() === name);
  if (found === undefined) throw new Error(`layer ${layer.name} has no weight '${name}'`);
  return found;
}

function pair(n: unknown): [number, number] {
  return (Array.isArray(n) ? n : [n, n]) as [number, number];
}

function convConfig(layer: Layer): { strides: [number, number]; padding: 'same' | 'valid' } {
  const config = layer.getConfig() as Config;
  return { strides: pair(config['strides']), padding: config['padding'] as 'same' | 'valid' };
}

/** dW of a convolution, through the backend's `Conv2DBackpropFilter` (no public op exists). */
function convFilterGradient(
  x: tf.Tensor,
  dy: tf.Tensor,
  filterShape: number[],
  strides: [number, number],
  padding: 'same' | 'valid',
): tf.Tensor {
  const attrs = {
    strides,
    pad: padding,
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape,
  };
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor;
}

function convInputGradient(
  dy: tf.Tensor,
  filter: tf.Tensor,
  inputShape: number[],
  strides: [number, number],
  padding: 'same' | 'valid',
): tf.Tensor {
  return tf.conv2dTranspose(
    dy as tf.Tensor4D,
    filter as tf.Tensor4D,
    inputShape as [number, number, number, number],
    strides,
    padding,
  );
}

/**
 * Per-channel sum of an NHWC tensor as the matmul [N*H*W, C]^T x ones [N*H*W, 1]: on wasm about
 * 2x faster than `tf.sum(t, [0, 1, 2])` (with the big tensor as the right-hand side instead,
 * XNNPACK repacks it and it is 3x slower than the sum).
 */
function sumOverBatchAndSpace(t: tf.Tensor): tf.Tensor1D {
  const channels = t.shape[t.rank - 1] as number;
  const rows = t.size / channels;
  const columns = tf.reshape(t, [rows, channels]) as tf.Tensor2D;
  return tf.reshape(tf.matMul(columns, tf.ones([rows, 1]), true, false), [channels]);
}

const conv2d: LayerRule = {
  forward(layer, [x]) {
    const { strides, padding } = convConfig(layer);
    const useBias = (layer.getConfig() as Config)['useBias'] === true;
    const y = tf.conv2d(
      x as tf.Tensor4D,
      weight(layer, 'kernel').read() as tf.Tensor4D,
      strides,
      padding,
    );
    return {
      output: useBias ? tf.add(y, weight(layer, 'bias').read()) : y,
      saved: [tf.clone(x as tf.Tensor)],
    };
  },
  backward(layer, dy, [x], [needDx]) {
    const { strides, padding } = convConfig(layer);
    const kernel = weight(layer, 'kernel');
    const w = kernel.read();
    const dWeights: [tfl.LayerVariable, tf.Tensor][] = [
      [kernel, convFilterGradient(x as tf.Tensor, dy, w.shape, strides, padding)],
    ];
    if ((layer.getConfig() as Config)['useBias'] === true) {
      dWeights.push([weight(layer, 'bias'), sumOverBatchAndSpace(dy)]);
    }
    const dx = needDx ? convInputGradient(dy, w, (x as tf.Tensor).shape, strides, padding) : null;
    return { dxs: [dx], dWeights };
  },
};

/**
 * A 1-bit conv's dx (before the estimator) and dWb as float convolutions of dy with wb and with
 * sign(x), as tfjs autodiff computes them; the popcount path has its own (`binaryConvBackward`).
 */
function floatSignsBackward(
  x: tf.Tensor,
  wb: tf.Tensor,
  dy: tf.Tensor,
  strides: [number, number],
  padding: 'same' | 'valid',
): { dx: () => tf.Tensor; dWb: () => tf.Tensor } {
  return {
    dx: () => convInputGradient(dy, wb, x.shape, strides, padding),
    dWb: () => {
      const signs = hasKernel(NATIVE_KERNELS.sign)
        ? runNative(NATIVE_KERNELS.sign, { x })
        : signPlusMinusOne(x);
      return convFilterGradient(signs, dy, wb.shape, strides, padding);
    },
  };
}

/** A 1-bit conv's signs and convolution in one native kernel, by XOR and popcount: exact. */
function popcountConv(layer: Layer, x: tf.Tensor, wb: tf.Tensor): tf.Tensor {
  const { strides, padding } = layer as BinaryConv2D;
  return runNative(NATIVE_KERNELS.binaryConv, { x, wb }, { strides, pad: padding });
}

const binaryConv2d: LayerRule = {
  forward(layer, [x], batch) {
    const { strides, padding, binarizer, estimator } = layer as BinaryConv2D;
    const w = weight(layer, 'kernel').read();
    if (batch.popcount) {
      const wb = runNative<tf.Tensor>(NATIVE_KERNELS.binarizeWeight, { w }, { binarizer });
      return {
        output: popcountConv(layer, x as tf.Tensor, wb),
        saved: [tf.clone(x as tf.Tensor), wb],
      };
    }
    // The custom-gradient binarizers, so that tfjs autodiff of this forward pass (used to check
    // the backward pass below) applies the same estimator and weight gradient.
    const wb = binarizeWeight(w, binarizer);
    const xb = binarizeActivation(x as tf.Tensor4D, estimator);
    const y = tf.conv2d(xb, wb as tf.Tensor4D, strides, padding);
    // The binarized weights are kept (small) rather than binarized again in the backward pass.
    return { output: y, saved: [tf.clone(x as tf.Tensor), wb] };
  },
  recomputes: (batch) => batch.popcount,
  recompute: (layer, [x, wb]) => popcountConv(layer, x as tf.Tensor, wb as tf.Tensor),
  backward(layer, dy, [x, wb], [needDx], batch) {
    const { strides, padding, binarizer, estimator } = layer as BinaryConv2D;
    const stride = pair(strides);
    const kernel = weight(layer, 'kernel');
    const w = kernel.read();
    const input = x as tf.Tensor;
    const gradients = (batch.popcount ? binaryConvBackward : floatSignsBackward)(
      input,
      wb as tf.Tensor,
      dy,
      stride,
      padding,
    );
    const dWb = gradients.dWb();
    let dx: tf.Tensor | null = null;
    if (needDx) {
      const dxb = gradients.dx();
      dx = batch.native
        ? runNative(NATIVE_KERNELS.estimatorGrad, { dy: dxb, x: input }, { estimator })
        : tf.mul(dxb, estimatorGradient(input, estimator));
    }
    const dW = batch.native
      ? runNative(NATIVE_KERNELS.weightGrad, { dWb, w }, { binarizer })
      : weightGradient(dWb, w, binarizer);
    return { dxs: [dx], dWeights: [[kernel, dW]] };
  },
};

function batchNormConfig(layer: Layer): { epsilon: number; momentum: number } {
  const config = layer.getConfig() as Config;
  if (config['axis'] !== -1 && config['axis'] !== 3) {
    throw new Error(`${layer.name}: only channels-last BatchNormalization is supported`);
  }
  return { epsilon: config['epsilon'] as number, momentum: config['momentum'] as number };
}

/** Moving statistics as tfjs-layers updates them: m <- m - (m - batch) * (1 - momentum). */
function updateMovingStatistics(layer: Layer, mean: tf.Tensor, variance: tf.Tensor): void {
  const { momentum } = batchNormConfig(layer);
  for (const [name, value] of [
    ['moving_mean', mean],
    ['moving_variance', variance],
  ] as const) {
    const v = weight(layer, name);
    v.write(tf.sub(v.read(), tf.mul(tf.sub(v.read(), value), 1 - momentum)));
  }
}

/** Training-mode batch normalization in the native kernel: [y, batch mean, batch variance]. */
function nativeBatchNorm(layer: Layer, x: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const { epsilon } = batchNormConfig(layer);
  const inputs = { x, gamma: weight(layer, 'gamma').read(), beta: weight(layer, 'beta').read() };
  return runNative(NATIVE_KERNELS.batchNormTraining, inputs, { epsilon });
}

/**
 * Batch normalization in training mode. Saved for the backward pass: [xHat, 1/std] on the tfjs
 * path, [x, mean, variance] on the native one (one fused kernel each way).
 */
const batchNormalization: LayerRule = {
  forward(layer, [x], batch) {
    const { epsilon } = batchNormConfig(layer);
    const input = x as tf.Tensor4D;
    const gamma = weight(layer, 'gamma').read();
    const beta = weight(layer, 'beta').read();
    if (batch.native) {
      const [y, mean, variance] = nativeBatchNorm(layer, input);
      updateMovingStatistics(layer, mean, variance);
      return { output: y, saved: [tf.clone(input), mean, variance] };
    }
    const count = (input.size / (input.shape[3] as number)) * batch.batchScale;
    // Two-pass batch statistics (the variance of the centred values, as tf.moments).
    const [sum] = batch.allSum(sumOverBatchAndSpace(input)) as [tf.Tensor1D];
    const mean = tf.div(sum, count);
    const centred = tf.sub(input, mean);
    const [squares] = batch.allSum(sumOverBatchAndSpace(tf.square(centred))) as [tf.Tensor1D];
    const variance = tf.div(squares, count);
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const xHat = tf.mul(centred, invStd);
    updateMovingStatistics(layer, mean, variance);
    return { output: tf.add(tf.mul(xHat, gamma), beta), saved: [xHat, invStd] };
  },
  recomputes: (batch) => batch.native, // the tfjs path keeps xHat, not x
  recompute(layer, [x]) {
    const [y, mean, variance] = nativeBatchNorm(layer, x as tf.Tensor);
    tf.dispose([mean, variance]);
    return y;
  },
  backward(layer, dy, saved, _needDx, batch) {
    const gamma = weight(layer, 'gamma');
    const beta = weight(layer, 'beta');
    if (batch.native) {
      const [x, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const { epsilon } = batchNormConfig(layer);
      const inputs = { x, dy, gamma: gamma.read(), mean, variance };
      const [dx, dGamma, dBeta] = runNative<[tf.Tensor, tf.Tensor, tf.Tensor]>(
        NATIVE_KERNELS.batchNormGrad,
        inputs,
        { epsilon },
      );
      return {
        dxs: [dx],
        dWeights: [
          [gamma, dGamma],
          [beta, dBeta],
        ],
      };
    }
    const [xHat, invStd] = saved as [tf.Tensor, tf.Tensor];
    const count = (xHat.size / (xHat.shape[3] as number)) * batch.batchScale;
    // This replica's parts of the weight gradients; dx needs the whole batch's.
    const dBeta = sumOverBatchAndSpace(dy);
    const dGamma = sumOverBatchAndSpace(tf.mul(dy, xHat));
    const [batchDGamma, batchDBeta] = batch.allSum(dGamma, dBeta) as [tf.Tensor1D, tf.Tensor1D];
    // dx = gamma / std * (dy - mean(dy) - xHat * mean(dy * xHat)), one scale per channel
    const scale = tf.mul(gamma.read(), invStd);
    const dx = tf.add(
      tf.mul(dy, scale),
      tf.sub(
        tf.mul(xHat, tf.mul(scale, tf.div(batchDGamma, -count))),
        tf.mul(scale, tf.div(batchDBeta, count)),
      ),
    );
    return {
      dxs: [dx],
      dWeights: [
        [gamma, dGamma],
        [beta, dBeta],
      ],
    };
  },
};

const relu: LayerRule = {
  forward(_layer, [x]) {
    const y = tf.relu(x as tf.Tensor);
    return { output: y, saved: [tf.clone(y)] };
  },
  backward(_layer, dy, [y]) {
    return { dxs: [tf.mul(dy, tf.step(y as tf.Tensor))], dWeights: [] };
  },
};

const clip: LayerRule = {
  forward(layer, [x]) {
    const { slope } = layer as Clip;
    return { output: leakyClip(x as tf.Tensor, slope), saved: [tf.clone(x as tf.Tensor)] };
  },
  backward(layer, dy, [x]) {
    // The derivative of clip(x, -1, 1) is the clipped STE's 1{|x| <= 1}; a leaky clip's is
    // `slope` where that is 0.
    const { slope } = layer as Clip;
    const inside = estimatorGradient(x as tf.Tensor, 'clipped-ste');
    const dx =
      slope === 0 ? tf.mul(dy, inside) : tf.mul(dy, tf.add(tf.mul(inside, 1 - slope), slope));
    return { dxs: [dx], dWeights: [] };
  },
};

function poolConfig(layer: Layer) {
  const config = layer.getConfig() as Config;
  return {
    filterSize: pair(config['poolSize']),
    strides: pair(config['strides'] ?? config['poolSize']),
    pad: config['padding'] as 'same' | 'valid',
  };
}

const maxPooling2d: LayerRule = {
  forward(layer, [x]) {
    const { filterSize, strides, pad } = poolConfig(layer);
    const y = tf.maxPool(x as tf.Tensor4D, filterSize, strides, pad);
    return { output: y, saved: [tf.clone(x as tf.Tensor), tf.clone(y)] };
  },
  backward(layer, dy, [x, y]) {
    const attrs = { ...poolConfig(layer), dimRoundingMode: undefined };
    const dx = tf
      .engine()
      .runKernel(
        'MaxPoolGrad',
        { dy, input: x as tf.Tensor, output: y as tf.Tensor },
        attrs as never,
      );
    return { dxs: [dx as tf.Tensor], dWeights: [] };
  },
};

const averagePooling2d: LayerRule = {
  forward(layer, [x]) {
    const { filterSize, strides, pad } = poolConfig(layer);
    return {
      output: tf.avgPool(x as tf.Tensor4D, filterSize, strides, pad),
      saved: [tf.clone(x as tf.Tensor)],
    };
  },
  backward(layer, dy, [x]) {
    const attrs = { ...poolConfig(layer), dimRoundingMode: undefined };
    const dx = tf.engine().runKernel('AvgPoolGrad', { dy, input: x as tf.Tensor }, attrs as never);
    return { dxs: [dx as tf.Tensor], dWeights: [] };
  },
};

const add: LayerRule = {
  forward(_layer, inputs) {
    return { output: tf.addN(inputs), saved: [] };
  },
  backward(_layer, dy, _saved, needDx) {
    return { dxs: needDx.map((need) => (need ? tf.clone(dy) : null)), dWeights: [] };
  },
};

const globalAveragePooling2d: LayerRule = {
  forward(_layer, [x]) {
    const input = x as tf.Tensor4D;
    return { output: tf.mean(input, [1, 2]), saved: [tf.clone(input)] };
  },
  backward(_layer, dy, [x]) {
    // The gradient of a mean over H x W: an average pooling of the whole map, run backwards.
    const input = x as tf.Tensor4D;
    const [n, h, w, c] = input.shape;
    const attrs = { filterSize: [h, w], strides: [h, w], pad: 'valid', dimRoundingMode: undefined };
    const pooled = tf.reshape(dy, [n, 1, 1, c]);
    const dx = tf.engine().runKernel('AvgPoolGrad', { dy: pooled, input }, attrs as never);
    return { dxs: [dx as tf.Tensor], dWeights: [] };
  },
};

const dense: LayerRule = {
  forward(layer, [x]) {
    const config = layer.getConfig() as Config;
    if (config['activation'] !== 'linear')
      throw new Error(`${layer.name}: only linear Dense is supported`);
    const y = tf.matMul(x as tf.Tensor2D, weight(layer, 'kernel').read() as tf.Tensor2D);
    const out = config['useBias'] === true ? tf.add(y, weight(layer, 'bias').read()) : y;
    return { output: out, saved: [tf.clone(x as tf.Tensor)] };
  },
  backward(layer, dy, [x], [needDx]) {
    const kernel = weight(layer, 'kernel');
    const input = x as tf.Tensor2D;
    const dWeights: [tfl.LayerVariable, tf.Tensor][] = [
      [kernel, tf.matMul(tf.transpose(input), dy as tf.Tensor2D)],
    ];
    if ((layer.getConfig() as Config)['useBias'] === true) {
      dWeights.push([weight(layer, 'bias'), tf.sum(dy, 0)]);
    }
    const dx = needDx
      ? tf.matMul(dy as tf.Tensor2D, kernel.read() as tf.Tensor2D, false, true)
      : null;
    return { dxs: [dx], dWeights };
  },
};

const RULES: Record<string, LayerRule> = {
  Conv2D: conv2d,
  BinaryConv2D: binaryConv2d,
  BatchNormalization: batchNormalization,
  ReLU: relu,
  Clip: clip,
  MaxPooling2D: maxPooling2d,
  AveragePooling2D: averagePooling2d,
  Add: add,
  GlobalAveragePooling2D: globalAveragePooling2d,
  Dense: dense,
};

/**
 * Whether {@link lossAndGradients} can train `model`: one input, one output, known layer types.
 * @param model - the model to train.
 */
export function supportsLayerwiseBackprop(model: tfl.LayersModel): boolean {
  return (
    model.inputs.length === 1 &&
    model.outputs.length === 1 &&
    model.layers.every(
      (l) =>
        l.getClassName() === 'InputLayer' ||
        (RULES[l.getClassName()] !== undefined && l.inboundNodes.length === 1),
    )
  );
}

interface Step {
  layer: Layer;
  rule: LayerRule;
  inputIds: number[];
  outputId: number;
}

/** The model's layers in execution order, with their rules and the ids of their tensors. */
function plan(model: tfl.LayersModel): { inputId: number; outputId: number; steps: Step[] } {
  const steps = model.layers
    .filter((l) => l.getClassName() !== 'InputLayer')
    .map((layer) => {
      const node = layer.inboundNodes[0];
      const rule = RULES[layer.getClassName()];
      if (node === undefined || rule === undefined) {
        throw new Error(
          `layer ${layer.name} (${layer.getClassName()}) is not supported by layer-wise backprop`,
        );
      }
      return {
        layer,
        rule,
        inputIds: node.inputTensors.map((t) => t.id),
        outputId: (node.outputTensors[0] as tfl.SymbolicTensor).id,
      };
    });
  return {
    inputId: (model.inputs[0] as tfl.SymbolicTensor).id,
    outputId: (model.outputs[0] as tfl.SymbolicTensor).id,
    steps,
  };
}

/** The whole batch on this thread, all in tfjs ops (what `tf.variableGrads` can differentiate). */
const WHOLE_BATCH: BatchContext = {
  allSum: (...partials) => partials,
  batchScale: 1,
  native: false,
  popcount: false,
};

/**
 * The logits of the training-mode forward pass that {@link lossAndGradients} runs, built from
 * plain tfjs ops and the library's custom-gradient binarizers, so that `tf.variableGrads` can
 * differentiate it: the tests check the hand-written backward passes against that. Updates the
 * BatchNorm moving statistics.
 * @param model - the model.
 * @param images - a batch, NHWC.
 */
export function layerwiseLogits(model: tfl.LayersModel, images: tf.Tensor4D): tf.Tensor2D {
  const { inputId, outputId, steps } = plan(model);
  return tf.tidy(() => {
    const values = new Map<number, tf.Tensor>([[inputId, images]]);
    for (const { layer, rule, inputIds, outputId: id } of steps) {
      const inputs = inputIds.map((i) => values.get(i) as tf.Tensor);
      values.set(id, rule.forward(layer, inputs, WHOLE_BATCH).output);
    }
    return values.get(outputId) as tf.Tensor2D;
  });
}

/** Options of {@link lossAndGradients}. */
export interface LossAndGradientsOptions {
  /** Label smoothing of the cross-entropy; default 0. */
  labelSmoothing?: number;
  /**
   * Set when this call computes one part of a batch split across data-parallel replicas: the
   * loss, correct count, BatchNorm statistics and gradients are then those of the whole batch.
   */
  collective?: Collective;
}

/**
 * Result of {@link lossAndGradients}.
 *
 * @inline
 */
export interface LossAndGradients {
  /** Mean loss of the batch (already read back). */
  loss: number;
  /** Examples whose top-1 prediction equals the label's argmax. */
  correct: number;
  /** Gradient of each trainable variable, keyed by the tf.Variable's name. */
  grads: tf.NamedTensorMap;
  /** Milliseconds of the forward pass and loss (with their all-reduce). */
  forwardMs: number;
  /** Milliseconds of the backward pass (with the gradients' all-reduce). */
  backwardMs: number;
}

/**
 * Sums every gradient over the replicas in one all-reduce of the concatenated values, in the
 * order of the model's trainable weights (variable names differ between replicas).
 */
function allReduceGradients(
  model: tfl.LayersModel,
  grads: tf.NamedTensorMap,
  collective: Collective,
): void {
  const names = model.trainableWeights
    .map((w) => (w.read() as tf.Variable).name)
    .filter((n) => grads[n] !== undefined);
  const parts = names.map((n) => (grads[n] as tf.Tensor).dataSync() as Float32Array);
  const flat = new Float32Array(parts.reduce((total, p) => total + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    flat.set(p, offset);
    offset += p.length;
  }
  const summed = collective.allReduceSum(flat);
  offset = 0;
  for (const n of names) {
    const g = grads[n] as tf.Tensor;
    grads[n] = tf.tensor(summed.subarray(offset, offset + g.size), g.shape);
    offset += g.size;
    g.dispose();
  }
}

/**
 * Softmax cross-entropy (with label smoothing) of `model` on a batch in training mode, and its
 * gradients with respect to every trainable weight. BatchNorm moving statistics are updated,
 * as in `model.apply(x, {training: true})`. Throws when the loss is not finite, before any
 * gradient is computed. The caller disposes `grads`.
 * @param model - the model to train.
 * @param images - a batch, NHWC.
 * @param labels - its one-hot labels.
 * @param options - label smoothing, and the collective of data-parallel replicas.
 */
export function lossAndGradients(
  model: tfl.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor2D,
  options: LossAndGradientsOptions = {},
): LossAndGradients {
  const start = performance.now();
  const { labelSmoothing = 0, collective } = options;
  const allSum = (values: number[]): number[] =>
    collective === undefined
      ? values
      : Array.from(collective.allReduceSum(new Float32Array(values)));
  const localBatch = images.shape[0];
  const [batchSize] = allSum([localBatch]) as [number];
  const popcount = hasKernel(NATIVE_KERNELS.binaryConv);
  const batch: BatchContext =
    collective === undefined
      ? { ...WHOLE_BATCH, native: nativeTrainingKernels(), popcount }
      : {
          allSum: (...partials) => {
            const sums = collective.allReduceSum(tf.concat(partials).dataSync() as Float32Array);
            return tf.split(
              tf.tensor1d(sums),
              partials.map((p) => p.size),
            );
          },
          batchScale: batchSize / localBatch,
          native: false,
          popcount,
        };
  const { inputId, outputId, steps } = plan(model);
  const consumers = new Map<number, number>();
  for (const { inputIds } of steps)
    for (const id of inputIds) consumers.set(id, (consumers.get(id) ?? 0) + 1);

  // Forward: keep each activation only until its last consumer has run. A step keeps what its
  // backward pass needs, except an input that the step which made it can recompute (`recomputes`):
  // null there, made again just before the backward pass needs it.
  const values = new Map<number, tf.Tensor>([[inputId, images]]);
  const producers = new Map<number, number>(); // tensor id -> the step that made it
  const saved: (tf.Tensor | null)[][] = [];
  const remakers: Map<number, number>[] = []; // per step: null's position -> the step to remake it
  for (const [index, { layer, rule, inputIds, outputId: id }] of steps.entries()) {
    const inputs = inputIds.map((i) => values.get(i) as tf.Tensor);
    const result = tf.tidy(
      () => rule.forward(layer, inputs, batch) as unknown as tf.TensorContainer,
    ) as unknown as Forward;
    values.set(id, result.output);
    producers.set(id, index);
    const remaker = new Map<number, number>();
    saved.push(
      result.saved.map((t, k) => {
        const input = inputs.findIndex((x) => x.dataId === t.dataId);
        const from = input < 0 ? undefined : producers.get(inputIds[input] as number);
        if (from === undefined || (steps[from] as Step).rule.recomputes?.(batch) !== true) return t;
        remaker.set(k, from);
        t.dispose();
        return null;
      }),
    );
    remakers.push(remaker);
    for (const i of inputIds) {
      const left = (consumers.get(i) as number) - 1;
      consumers.set(i, left);
      if (left === 0 && i !== inputId) {
        values.get(i)?.dispose();
        values.delete(i);
      }
    }
  }
  const logits = values.get(outputId) as tf.Tensor2D;
  const [lossSum, dLogits, correctCount] = tf.tidy(() => {
    const classes = labels.shape[1];
    const targets = tf.add(tf.mul(labels, 1 - labelSmoothing), labelSmoothing / classes);
    const logProbs = tf.logSoftmax(logits);
    return [
      tf.neg(tf.sum(tf.mul(targets, logProbs))),
      tf.div(tf.sub(tf.exp(logProbs), targets), batchSize),
      tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1))),
    ];
  }) as [tf.Tensor, tf.Tensor, tf.Tensor];
  logits.dispose();
  const [summedLoss, correct] = allSum([
    lossSum.dataSync()[0],
    correctCount.dataSync()[0],
  ] as number[]) as [number, number];
  tf.dispose([lossSum, correctCount]);
  const loss = summedLoss / batchSize;
  const forwardMs = performance.now() - start;
  if (!Number.isFinite(loss)) {
    dLogits.dispose();
    saved.forEach((s) => tf.dispose(s.filter((t) => t !== null)));
    throw new Error(`loss is ${loss}`);
  }

  // What step s saved, with the tensors it dropped made again (inside the caller's tidy).
  const keptBy = (s: number): tf.Tensor[] =>
    (saved[s] as (tf.Tensor | null)[]).map((t, k) => {
      if (t !== null) return t;
      const from = (remakers[s] as Map<number, number>).get(k) as number;
      const { layer, rule } = steps[from] as Step;
      return (rule.recompute as NonNullable<LayerRule['recompute']>)(layer, keptBy(from), batch);
    });

  // Backward, in reverse: free each gradient and saved tensor once used.
  const gradients = new Map<number, tf.Tensor>([[outputId, dLogits]]);
  const grads: tf.NamedTensorMap = {};
  for (let s = steps.length - 1; s >= 0; s--) {
    const { layer, rule, inputIds, outputId: id } = steps[s] as Step;
    const dy = gradients.get(id);
    if (dy !== undefined) {
      const needDx = inputIds.map((i) => i !== inputId);
      const result = tf.tidy(
        () => rule.backward(layer, dy, keptBy(s), needDx, batch) as unknown as tf.TensorContainer,
      ) as unknown as Backward;
      dy.dispose();
      gradients.delete(id);
      result.dxs.forEach((dx, k) => {
        if (dx === null) return;
        const i = inputIds[k] as number;
        const previous = gradients.get(i);
        gradients.set(i, previous === undefined ? dx : tf.add(previous, dx));
        if (previous !== undefined) tf.dispose([previous, dx]);
      });
      for (const [variable, g] of result.dWeights) {
        if (variable.trainable) grads[(variable.read() as tf.Variable).name] = g;
        else g.dispose();
      }
    }
    tf.dispose(saved[s]?.filter((t) => t !== null));
  }
  gradients.forEach((g) => g.dispose());
  if (collective !== undefined) allReduceGradients(model, grads, collective);
  return { loss, correct, grads, forwardMs, backwardMs: performance.now() - start - forwardMs };
}
