/**
 * Bit-packed 1-bit inference: export a trained model to a compact deploy file, run it with
 * XNOR/popcount kernels in WebAssembly (Node and browsers).
 */
export { exportModel, type ExportInfo } from './export.js';
export {
  DEPLOY_FORMAT,
  decodeDeployFile,
  type Activation,
  type ActivationOp,
  type BinaryConvOp,
  type ConvOp,
  type DenseOp,
  type DeployFile,
  type DeployHeader,
  type DeployOp,
  type GlobalAvgPoolOp,
  type PoolOp,
  type Preprocessing,
  type TensorRef,
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
