/**
 * Bit-packed 1-bit inference: export a trained model to a compact deploy file, run it with
 * XNOR/popcount kernels in WebAssembly (Node and browsers).
 */
export { exportModel, type ExportInfo } from './export.js';
export {
  DEPLOY_FORMAT,
  decodeDeployFile,
  type DeployHeader,
  type DeployOp,
  type Preprocessing,
} from './format.js';
export {
  PackedNet,
  compileKernels,
  popcountThroughput,
  type KernelSource,
  type OpProfile,
  type Prediction,
} from './runtime.js';
export { measureSpeed, type SpeedOptions, type SpeedReport } from './speed.js';
