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
  binarizedWeight,
  estimatorGradient,
  signPlusMinusOne,
  weightGradient,
} from '../binarize/index.js';
import type { BinaryConv2D } from '../layers/index.js';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

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

/** Forward (training mode) and backward of one layer type. Both run inside `tf.tidy`. */
interface LayerRule {
  forward(layer: Layer, inputs: tf.Tensor[]): Forward;
  backward(layer: Layer, dy: tf.Tensor, saved: tf.Tensor[], needDx: boolean[]): Backward;
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

const sumOverBatchAndSpace = (t: tf.Tensor) => tf.sum(t, [0, 1, 2]);

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

const binaryConv2d: LayerRule = {
  forward(layer, [x]) {
    const { strides, padding, binarizer } = layer as BinaryConv2D;
    const wb = binarizedWeight(weight(layer, 'kernel').read(), binarizer);
    const y = tf.conv2d(signPlusMinusOne(x as tf.Tensor4D), wb as tf.Tensor4D, strides, padding);
    return { output: y, saved: [tf.clone(x as tf.Tensor)] };
  },
  backward(layer, dy, [x], [needDx]) {
    const { strides, padding, binarizer, estimator } = layer as BinaryConv2D;
    const stride = pair(strides);
    const kernel = weight(layer, 'kernel');
    const w = kernel.read();
    const input = x as tf.Tensor;
    const dWb = convFilterGradient(signPlusMinusOne(input), dy, w.shape, stride, padding);
    const dx = needDx
      ? tf.mul(
          convInputGradient(dy, binarizedWeight(w, binarizer), input.shape, stride, padding),
          estimatorGradient(input, estimator),
        )
      : null;
    return { dxs: [dx], dWeights: [[kernel, weightGradient(dWb, w, binarizer)]] };
  },
};

function batchNormConfig(layer: Layer): { epsilon: number; momentum: number } {
  const config = layer.getConfig() as Config;
  if (config['axis'] !== -1 && config['axis'] !== 3) {
    throw new Error(`${layer.name}: only channels-last BatchNormalization is supported`);
  }
  return { epsilon: config['epsilon'] as number, momentum: config['momentum'] as number };
}

const batchNormalization: LayerRule = {
  forward(layer, [x]) {
    const { epsilon, momentum } = batchNormConfig(layer);
    const input = x as tf.Tensor4D;
    const { mean, variance } = tf.moments(input, [0, 1, 2]);
    const y = tf.batchNorm(
      input,
      mean,
      variance,
      weight(layer, 'beta').read(),
      weight(layer, 'gamma').read(),
      epsilon,
    );
    // Moving statistics as tfjs-layers updates them: m <- m - (m - batch) * (1 - momentum).
    for (const [name, value] of [
      ['moving_mean', mean],
      ['moving_variance', variance],
    ] as const) {
      const v = weight(layer, name);
      v.write(tf.sub(v.read(), tf.mul(tf.sub(v.read(), value), 1 - momentum)));
    }
    return { output: y, saved: [tf.clone(input), mean, variance] };
  },
  backward(layer, dy, [x, mean, variance]) {
    const { epsilon } = batchNormConfig(layer);
    const gamma = weight(layer, 'gamma');
    const input = x as tf.Tensor;
    const count = input.size / (input.shape[3] as number);
    const invStd = tf.rsqrt(tf.add(variance as tf.Tensor, epsilon));
    const xHat = tf.mul(tf.sub(input, mean as tf.Tensor), invStd);
    const dBeta = sumOverBatchAndSpace(dy);
    const dGamma = sumOverBatchAndSpace(tf.mul(dy, xHat));
    // dx = gamma / std * (dy - mean(dy) - xHat * mean(dy * xHat))
    const centred = tf.sub(tf.sub(dy, tf.div(dBeta, count)), tf.mul(xHat, tf.div(dGamma, count)));
    const dx = tf.mul(centred, tf.mul(gamma.read(), invStd));
    return {
      dxs: [dx],
      dWeights: [
        [gamma, dGamma],
        [weight(layer, 'beta'), dBeta],
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
  forward(_layer, [x]) {
    return { output: tf.clipByValue(x as tf.Tensor, -1, 1), saved: [tf.clone(x as tf.Tensor)] };
  },
  backward(_layer, dy, [x]) {
    // The derivative of clip(x, -1, 1) is the clipped STE's 1{|x| <= 1}.
    return { dxs: [tf.mul(dy, estimatorGradient(x as tf.Tensor, 'clipped-ste'))], dWeights: [] };
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
    // A zero-size stand-in that remembers the input shape for the backward pass.
    return {
      output: tf.mean(input, [1, 2]),
      saved: [tf.zeros([input.shape[1], input.shape[2], 0])],
    };
  },
  backward(_layer, dy, [shapeOnly]) {
    const [h, w] = (shapeOnly as tf.Tensor).shape as [number, number];
    const [n, c] = dy.shape as [number, number];
    const dx = tf.broadcastTo(tf.div(tf.reshape(dy, [n, 1, 1, c]), h * w), [n, h, w, c]);
    return { dxs: [dx], dWeights: [] };
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

/** Whether {@link lossAndGradients} can train `model`: one input, one output, known layer types. */
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

/** Result of {@link lossAndGradients}. */
export interface LossAndGradients {
  /** Mean loss of the batch (already read back). */
  loss: number;
  /** Examples whose top-1 prediction equals the label's argmax. */
  correct: number;
  /** Gradient of each trainable variable, keyed by the tf.Variable's name. */
  grads: tf.NamedTensorMap;
  forwardMs: number;
  backwardMs: number;
}

/**
 * Softmax cross-entropy (with label smoothing) of `model` on a batch in training mode, and its
 * gradients with respect to every trainable weight. BatchNorm moving statistics are updated,
 * as in `model.apply(x, {training: true})`. Throws when the loss is not finite, before any
 * gradient is computed. The caller disposes `grads`.
 */
export function lossAndGradients(
  model: tfl.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor2D,
  labelSmoothing = 0,
): LossAndGradients {
  const start = performance.now();
  const inputId = (model.inputs[0] as tfl.SymbolicTensor).id;
  const outputId = (model.outputs[0] as tfl.SymbolicTensor).id;
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
  const consumers = new Map<number, number>();
  for (const { inputIds } of steps)
    for (const id of inputIds) consumers.set(id, (consumers.get(id) ?? 0) + 1);

  // Forward: keep each activation only until its last consumer has run.
  const values = new Map<number, tf.Tensor>([[inputId, images]]);
  const saved: tf.Tensor[][] = [];
  for (const { layer, rule, inputIds, outputId: id } of steps) {
    const inputs = inputIds.map((i) => values.get(i) as tf.Tensor);
    const result = tf.tidy(
      () => rule.forward(layer, inputs) as unknown as tf.TensorContainer,
    ) as unknown as Forward;
    values.set(id, result.output);
    saved.push(result.saved);
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
  const correct = tf.tidy(
    () => tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1))).dataSync()[0] as number,
  );
  const [lossTensor, dLogits] = tf.tidy(() => {
    const classes = labels.shape[1];
    const targets = tf.add(tf.mul(labels, 1 - labelSmoothing), labelSmoothing / classes);
    const logProbs = tf.logSoftmax(logits);
    const loss = tf.div(tf.neg(tf.sum(tf.mul(targets, logProbs))), labels.shape[0]);
    return [loss, tf.div(tf.sub(tf.exp(logProbs), targets), labels.shape[0])];
  });
  logits.dispose();
  const loss = (lossTensor as tf.Tensor).dataSync()[0] as number;
  lossTensor?.dispose();
  const forwardMs = performance.now() - start;
  if (!Number.isFinite(loss)) {
    dLogits?.dispose();
    saved.forEach((s) => tf.dispose(s));
    throw new Error(`loss is ${loss}`);
  }

  // Backward, in reverse: free each gradient and saved tensor once used.
  const gradients = new Map<number, tf.Tensor>([[outputId, dLogits as tf.Tensor]]);
  const grads: tf.NamedTensorMap = {};
  for (let s = steps.length - 1; s >= 0; s--) {
    const { layer, rule, inputIds, outputId: id } = steps[s] as (typeof steps)[number];
    const dy = gradients.get(id);
    const kept = saved[s] as tf.Tensor[];
    if (dy !== undefined) {
      const needDx = inputIds.map((i) => i !== inputId);
      const result = tf.tidy(
        () => rule.backward(layer, dy, kept, needDx) as unknown as tf.TensorContainer,
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
    tf.dispose(kept);
  }
  gradients.forEach((g) => g.dispose());
  return { loss, correct, grads, forwardMs, backwardMs: performance.now() - start - forwardMs };
}
