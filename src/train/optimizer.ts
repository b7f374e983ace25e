/** The optimizers of the recipes, with a learning rate the schedule sets before each step. */
import * as tf from '@tensorflow/tfjs-core';
import { NATIVE_KERNELS, nativeTrainingKernels } from '../backend/native.js';
import type { OptimizerSpec } from './recipe.js';

/** A tfjs optimizer whose learning rate can be changed between steps. */
export type ScheduledOptimizer = tf.Optimizer & {
  /**
   * Sets the learning rate of the following steps.
   * @param lr - the new learning rate.
   */
  setLearningRate(lr: number): void;
};

/** The private state of tfjs 4.22's `AdamOptimizer` that the native step updates. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

/**
 * tfjs's Adam, whose learning rate the schedule sets (tfjs reads its protected `learningRate` at
 * every step). Where the native kernels are in use, each variable's update is one fused pass
 * (`NATIVE_KERNELS.adam`, the same float32 arithmetic as tfjs' eleven ops) on tfjs' own moment
 * variables, so checkpoints and `getWeights` are unchanged.
 */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }

  /**
   * tfjs restores beta^(t+1), the bias corrections' powers, by `pow`, while training builds them
   * by t float32 multiplications: the two can differ in the last bit, and a resumed run would
   * then take another path than the uninterrupted one (seen: the third step after a resume).
   * Rebuilt here by the same multiplications.
   */
  override async setWeights(
    weightValues: Parameters<tf.AdamOptimizer['setWeights']>[0],
  ): Promise<void> {
    await super.setWeights(weightValues);
    const state = this as unknown as AdamState;
    for (const [acc, beta] of [
      [state.accBeta1, this.beta1],
      [state.accBeta2, this.beta2],
    ] as const) {
      const factor = Math.fround(beta);
      let power = factor; // a fresh optimizer's value
      for (let step = 0; step < this.iterations; step++) power = Math.fround(power * factor);
      tf.tidy(() => acc.assign(tf.scalar(power)));
    }
  }

  override applyGradients(
    variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0],
  ): void {
    if (!nativeTrainingKernels()) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const gradients = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    const [accBeta1, accBeta2] = [state.accBeta1, state.accBeta2].map(
      (acc) => acc.dataSync()[0] as number,
    ) as [number, number];
    const hyper = [
      this.beta1,
      this.beta2,
      this.learningRate,
      this.epsilon,
      1 - accBeta1,
      1 - accBeta2,
    ];
    tf.tidy(() => {
      gradients.forEach(({ name, tensor: g }, i) => {
        const value = tf.engine().registeredVariables[name] as tf.Variable;
        const slot = (suffix: string) => ({
          originalName: `${name}/${suffix}`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        });
        const m = (state.accumulatedFirstMoment[i] ??= slot('m')).variable;
        const v = (state.accumulatedSecondMoment[i] ??= slot('v')).variable;
        if (g == null) return;
        const [newValue, newM, newV] = tf
          .engine()
          .runKernel(NATIVE_KERNELS.adam, { value, m, v, g }, { hyper } as never) as tf.Tensor[];
        m.assign(newM as tf.Tensor);
        v.assign(newV as tf.Tensor);
        value.assign(newValue as tf.Tensor);
      });
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/**
 * Builds the optimizer of a recipe stage at learning rate `lr`: Adam (beta1 0.9, beta2 0.999,
 * tfjs's epsilon) or SGD with momentum (v = m v + g; w -= lr v, as PyTorch).
 * @param spec - the stage's optimizer: type, momentum, weight decay.
 * @param lr - the first learning rate.
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
