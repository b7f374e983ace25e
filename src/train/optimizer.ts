/** The optimizers of the recipes, with a learning rate the schedule sets before each step. */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerSpec } from './recipe.js';

/** A tfjs optimizer whose learning rate can be changed between steps. */
export type ScheduledOptimizer = tf.Optimizer & { setLearningRate(lr: number): void };

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
