/** The optimizers of the recipes, with a learning rate the schedule sets before each step. */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerSpec } from './recipe.js';

/** A tfjs optimizer whose learning rate can be changed between steps. */
export type ScheduledOptimizer = tf.Optimizer & {
  /** Sets the learning rate of the following steps. */
  setLearningRate(lr: number): void;
};

/** tfjs's Adam reads its (protected) learning rate at every step: let the schedule set it. */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

/**
 * Builds the optimizer of a recipe stage at learning rate `lr`: Adam (beta1 0.9, beta2 0.999,
 * tfjs's epsilon) or SGD with momentum (v = m v + g; w -= lr v, as PyTorch).
 */
export function createOptimizer(spec: OptimizerSpec, lr: number): ScheduledOptimizer {
  return spec.type === 'adam'
    ? new ScheduledAdam(lr, 0.9, 0.999)
    : tf.train.momentum(lr, spec.momentum);
}

/** The learning rate an optimizer will use at its next step. */
export function currentLearningRate(optimizer: tf.Optimizer): number {
  return optimizer.getConfig()['learningRate'] as number;
}

/**
 * Rebuilds an optimizer of {@link createOptimizer} from its class name and `getConfig()` (a
 * data-parallel replica gets its optimizer this way).
 */
export function optimizerFromConfig(
  className: string,
  config: tf.serialization.ConfigDict,
): ScheduledOptimizer {
  const lr = config['learningRate'] as number;
  if (className === 'Adam') {
    return new ScheduledAdam(
      lr,
      config['beta1'] as number,
      config['beta2'] as number,
      config['epsilon'] as number,
    );
  }
  if (className === 'Momentum') {
    return tf.train.momentum(lr, config['momentum'] as number, config['useNesterov'] as boolean);
  }
  throw new Error(`optimizer ${className} is not one of the recipes' (Adam, Momentum)`);
}
