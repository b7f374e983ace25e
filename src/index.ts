/**
 * bireal: Bi-Real Net (Liu et al., ECCV 2018) and 1-bit CNNs on TensorFlow.js.
 *
 * Importing the package registers its custom layers for serialization; call `initBackend()`
 * once before building models to pick the fastest backend (tfjs-node, else wasm, else cpu).
 *
 * @module bireal
 */
export { BACKENDS, describeBackend, initBackend } from './backend/index.js';
export type { BackendName, BackendOptions } from './backend/index.js';
export {
  BINARIZERS,
  ESTIMATORS,
  binarizeActivation,
  binarizeWeight,
  channelScale,
  estimatorGradient,
  signPlusMinusOne,
} from './binarize/index.js';
export type { Binarizer, Estimator } from './binarize/index.js';
export { BinaryConv2D, Clip } from './layers/index.js';
export type { BinaryConv2DArgs, ClipArgs } from './layers/index.js';
export { MODEL_NAMES, createModel, describeModel } from './models/index.js';
export type { ModelName, ModelOptions } from './models/index.js';
export { initFromReal } from './models/init.js';
export type { InitReport } from './models/init.js';
export { BINARY_OPS_PER_FLOP, costSummary, formatSummary } from './analysis/summary.js';
export type { CostSummary, LayerCost } from './analysis/summary.js';
export * from './train/index.js';
export * from './data/index.js';
export { layerwiseLogits, lossAndGradients, supportsLayerwiseBackprop } from './backprop/index.js';
export type { Collective, LossAndGradientsOptions } from './backprop/index.js';
export * from './parallel/index.js';
export {
  EXPERIMENTS,
  experimentRecipe,
  loadExperiment,
  runExperiment,
} from './experiments/index.js';
export type { Experiment, ExperimentRun, RunExperimentOptions } from './experiments/index.js';
export {
  GAPS,
  GRID_ROWS,
  RESULTS_TABLES,
  backends,
  cellSetting,
  deployFile,
  experimentsMarkdown,
  formatGap,
  formatPercent,
  gapBySeed,
  gridTable,
  meanStd,
  modelTable,
  regimeCells,
  regimeTable,
  resultsMarkdown,
  trainingSetting,
} from './experiments/report.js';
export type { RegimeCell, TableModel } from './experiments/report.js';
export * from './engine/index.js';
