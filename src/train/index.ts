/** Training: recipes, schedules, the multi-stage trainer, checkpoints and evaluation. */

/** Recipe schema (configs/*.json): validation, loading, command-line overrides. */
export { RecipeError, loadRecipe, parseRecipe, withOverrides } from './recipe.js';
/** Recipe types: the validated recipe and its parts. */
export type {
  DatasetSpec,
  ModelSpec,
  OptimizerSpec,
  Recipe,
  RecipeModelOptions,
  RecipeOverrides,
  ScheduleSpec,
  StageSpec,
} from './recipe.js';
/** Learning-rate schedules: warmup, linear decay, step decay; batch-scaled base rate. */
export { baseLearningRate, learningRate } from './schedule.js';
/** Adam and SGD with momentum, with a learning rate settable per step. */
export { createOptimizer } from './optimizer.js';
/** An optimizer with `setLearningRate`. */
export type { ScheduledOptimizer } from './optimizer.js';
/** One training step (leak-free; throws DivergedError on a NaN/Inf loss before updating). */
export {
  DivergedError,
  createMeasuredTrainStep,
  createTrainStep,
  trainableVariables,
  trainingLoss,
} from './step.js';
/** Training-step types. */
export type { MeasuredTrainStep, StepResult, TrainStep, TrainStepOptions } from './step.js';
/** The multi-stage trainer: run folders, metrics.jsonl, per-epoch checkpoints, resume. */
export { TrainingDivergedError, train } from './trainer.js';
/** Trainer types: options, summary.json, dataset opener. */
export type { OpenDataset, RunSummary, TrainOptions } from './trainer.js';
/** Atomic single-file checkpoints: model, optimizer state, recipe, training position. */
export { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
/** Checkpoint types. */
export type {
  Checkpoint,
  EvalScore,
  NamedTensor,
  StageRecord,
  TrainingState,
} from './checkpoint.js';
/** Evaluation: top-1, top-5, per-class accuracy, confusion matrix (BatchNorm inference mode). */
export { evaluate, packedClassifier, type BatchEngine } from './evaluate.js';
/** Evaluation types. */
export type { ClassAccuracy, Classifier, EvalOptions, EvalResult } from './evaluate.js';
/** The progress line (in place on a terminal, periodic lines otherwise). */
export { Progress, formatDuration } from './progress.js';
