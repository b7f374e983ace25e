/**
 * One supervised training step of a tfjs-layers model: forward in training mode (BatchNorm uses
 * batch statistics and updates its moving averages), softmax cross-entropy, backward, update.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { lossAndGradients, supportsLayerwiseBackprop, type Collective } from '../backprop/index.js';

/** Options of {@link createTrainStep} and {@link createMeasuredTrainStep}. */
export interface TrainStepOptions {
  /** Label smoothing of the cross-entropy (the authors' recipe uses 0.1); default 0. */
  labelSmoothing?: number;
  /** L2 weight decay added to the gradients of conv and dense kernels; default 0. */
  weightDecay?: number;
  /**
   * How gradients are computed: 'layerwise' (hand-written per-layer backward, see
   * `src/backprop`; lean on memory; the default when every layer of the model is supported) or
   * 'autodiff' (`tf.variableGrads` through the tfjs tape).
   */
  gradients?: 'layerwise' | 'autodiff';
  /**
   * Set in each data-parallel replica (see `src/parallel`): the step then computes the loss,
   * BatchNorm statistics and gradients of the whole batch split over the replicas. Needs
   * layer-wise gradients.
   */
  collective?: Collective;
}

/** Runs one step on a batch (images NHWC float32, labels one-hot) and returns the mean loss. */
export type TrainStep = (images: tf.Tensor4D, labels: tf.Tensor2D) => number;

/** What a measured step reports for its batch. */
export interface StepResult {
  /** Mean loss of the batch. */
  loss: number;
  /** Examples whose top-1 prediction was right (before the update). */
  correct: number;
  /** Milliseconds in this thread, where measured (layer-wise gradients). */
  timing?: { forwardMs: number; backwardMs: number; optimizerMs: number };
}

/** Like {@link TrainStep}, also counting the batch's correct top-1 predictions. */
export type MeasuredTrainStep = (images: tf.Tensor4D, labels: tf.Tensor2D) => StepResult;

/** Thrown by a training step whose loss is NaN or infinite; the weights were not updated. */
export class DivergedError extends Error {
  /** @param loss - the loss the step computed. */
  constructor(readonly loss: number) {
    super(`loss is ${loss}: training diverged; weights were not updated`);
  }
}

/**
 * The trainable variables of a model, for `tf.variableGrads` and optimizers.
 * @param model - the model.
 */
export function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

function crossEntropy(labels: tf.Tensor2D, logits: tf.Tensor2D, labelSmoothing = 0): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(labels, logits, undefined, labelSmoothing) as tf.Scalar;
}

/**
 * Softmax cross-entropy loss of the model on a batch, in training mode.
 * @param model - the model.
 * @param images - a batch, NHWC.
 * @param labels - its one-hot labels.
 * @param labelSmoothing - how much of each label spreads over the other classes (0 to 1).
 */
export function trainingLoss(
  model: tfl.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor2D,
  labelSmoothing = 0,
): tf.Scalar {
  const logits = model.apply(images, { training: true }) as tf.Tensor2D;
  return crossEntropy(labels, logits, labelSmoothing);
}

type Gradients = Omit<StepResult, 'timing'> & {
  grads: tf.NamedTensorMap;
  forwardMs?: number;
  backwardMs?: number;
};

/** Loss, correct count and gradients through the tfjs tape. */
function autodiffGradients(
  model: tfl.LayersModel,
  variables: tf.Variable[],
  images: tf.Tensor4D,
  labels: tf.Tensor2D,
  labelSmoothing: number,
): Gradients {
  let correct: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(images, { training: true }) as tf.Tensor2D;
    // Kept out of the tape's tidy; not on the loss path, so it adds no gradient work.
    correct = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1))));
    return crossEntropy(labels, logits, labelSmoothing);
  }, variables);
  const loss = value.dataSync()[0] as number;
  const count = (correct as tf.Tensor).dataSync()[0] as number;
  tf.dispose([value, correct as tf.Tensor]);
  if (!Number.isFinite(loss)) {
    tf.dispose(grads);
    throw new DivergedError(loss);
  }
  return { loss, correct: count, grads };
}

/**
 * Builds a measured training step for `model` with `optimizer`: loss and correct count per batch.
 * Throws a {@link DivergedError} when the loss is NaN or infinite, before the weights are updated.
 * @param model - the model to train.
 * @param optimizer - updates its weights.
 * @param options - label smoothing, gradient clipping, layer-wise backprop.
 */
export function createMeasuredTrainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  options: TrainStepOptions = {},
): MeasuredTrainStep {
  const variables = trainableVariables(model);
  const labelSmoothing = options.labelSmoothing ?? 0;
  const weightDecay = options.weightDecay ?? 0;
  const decayed = new Set(
    model.trainableWeights
      .filter((w) => w.originalName.endsWith('kernel'))
      .map((w) => (w.read() as tf.Variable).name),
  );
  const { collective } = options;
  const layerwise =
    (options.gradients ?? 'layerwise') === 'layerwise' && supportsLayerwiseBackprop(model);
  if (collective !== undefined && !layerwise) {
    throw new Error('data-parallel training needs layer-wise gradients, which this model lacks');
  }
  const gradientsOf = (images: tf.Tensor4D, labels: tf.Tensor2D): Gradients => {
    if (!layerwise) return autodiffGradients(model, variables, images, labels, labelSmoothing);
    try {
      return lossAndGradients(model, images, labels, { labelSmoothing, collective });
    } catch (error) {
      const loss = /^loss is (\S+)$/.exec((error as Error).message)?.[1];
      throw loss === undefined ? error : new DivergedError(Number(loss));
    }
  };
  return (images, labels) => {
    const { loss, correct, grads, forwardMs, backwardMs } = gradientsOf(images, labels);
    const start = performance.now();
    if (weightDecay > 0) {
      for (const v of variables) {
        const g = grads[v.name];
        if (g === undefined || !decayed.has(v.name)) continue;
        grads[v.name] = tf.tidy(() => tf.add(g, tf.mul(v, weightDecay)));
        g.dispose();
      }
    }
    optimizer.applyGradients(grads);
    tf.dispose(grads);
    const optimizerMs = performance.now() - start;
    if (forwardMs === undefined || backwardMs === undefined) return { loss, correct };
    return { loss, correct, timing: { forwardMs, backwardMs, optimizerMs } };
  };
}

/**
 * Builds a training step for `model` with `optimizer`, returning the batch's mean loss. Throws a
 * {@link DivergedError} when the loss is NaN or infinite, before the weights are updated.
 * @param model - the model to train.
 * @param optimizer - updates its weights.
 * @param options - label smoothing, gradient clipping, layer-wise backprop.
 */
export function createTrainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  options: TrainStepOptions = {},
): TrainStep {
  const step = createMeasuredTrainStep(model, optimizer, options);
  return (images, labels) => step(images, labels).loss;
}
