/**
 * One supervised training step of a tfjs-layers model: forward in training mode (BatchNorm uses
 * batch statistics and updates its moving averages), softmax cross-entropy, backward, update.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** Options of {@link createTrainStep}. */
export interface TrainStepOptions {
  /** Label smoothing of the cross-entropy (the authors' recipe uses 0.1); default 0. */
  labelSmoothing?: number;
}

/** Runs one step on a batch (images NHWC float32, labels one-hot) and returns the mean loss. */
export type TrainStep = (images: tf.Tensor4D, labels: tf.Tensor2D) => number;

/** The trainable variables of a model, for `tf.variableGrads` and optimizers. */
export function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Softmax cross-entropy loss of the model on a batch, in training mode. */
export function trainingLoss(
  model: tfl.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor2D,
  labelSmoothing = 0,
): tf.Scalar {
  const logits = model.apply(images, { training: true }) as tf.Tensor2D;
  return tf.losses.softmaxCrossEntropy(labels, logits, undefined, labelSmoothing) as tf.Scalar;
}

/**
 * Builds a training step for `model` with `optimizer`. Throws when the loss is NaN or infinite,
 * before the weights are updated.
 */
export function createTrainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  options: TrainStepOptions = {},
): TrainStep {
  const variables = trainableVariables(model);
  return (images, labels) => {
    const { value, grads } = tf.variableGrads(
      () => trainingLoss(model, images, labels, options.labelSmoothing),
      variables,
    );
    const loss = value.dataSync()[0] as number;
    if (!Number.isFinite(loss)) {
      tf.dispose([value, grads]);
      throw new Error(`loss is ${loss}: training diverged; weights were not updated`);
    }
    optimizer.applyGradients(grads);
    tf.dispose([value, grads]);
    return loss;
  };
}
