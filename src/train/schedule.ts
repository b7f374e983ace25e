/**
 * Learning-rate schedules, per step: an optional linear warmup, then linear decay to 0 at the end
 * of the stage (the authors' PyTorch recipe, there per epoch) or step decay at given epochs (the
 * paper's x0.1 at epochs 10 and 15 of 20).
 */
import type { StageSpec } from './recipe.js';

/**
 * The stage's base learning rate: lr, times batchSize / lrReferenceBatch when that is set.
 * @param stage - the recipe stage.
 */
export function baseLearningRate(stage: StageSpec): number {
  const { lr, lrReferenceBatch } = stage.optimizer;
  return lrReferenceBatch === undefined ? lr : (lr * stage.batchSize) / lrReferenceBatch;
}

/**
 * Learning rate of the 0-based `step` of a stage with `stepsPerEpoch` steps per epoch. Warmup
 * ramps linearly to the base rate over its first steps, reaching it at the last warmup step;
 * linear decay is base x (1 - t / T) over the T steps after warmup (t = 0 first); step decay
 * multiplies by gamma at the start of each milestone epoch.
 * @param stage - the recipe stage.
 * @param step - the step within the stage, from 0.
 * @param stepsPerEpoch - the steps of one epoch.
 */
export function learningRate(stage: StageSpec, step: number, stepsPerEpoch: number): number {
  const base = baseLearningRate(stage);
  const { schedule } = stage;
  const warmup = Math.round(schedule.warmupEpochs * stepsPerEpoch);
  if (step < warmup) return (base * (step + 1)) / warmup;
  if (schedule.type === 'linear') {
    const total = stage.epochs * stepsPerEpoch - warmup;
    return base * Math.max(0, 1 - (step - warmup) / total);
  }
  const epoch = Math.floor(step / stepsPerEpoch);
  const decays = schedule.milestones.filter((m) => m <= epoch).length;
  return base * schedule.gamma ** decays;
}
