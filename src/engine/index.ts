/**
 * Bit-packed 1-bit inference: export a trained model to a compact deploy file, run it with
 * XNOR/popcount kernels in WebAssembly (Node and browsers), or natively in Node (AVX-512/AVX2,
 * oneDNN) where the addon is built.
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
export { NATIVE_ISAS, nativeIsas, type NativeIsa } from './native.js';
export {
  PackedNet,
  compileKernels,
  popcountThroughput,
  type EngineOptions,
  type KernelSource,
  type OpProfile,
  type Prediction,
} from './runtime.js';
export { PackedNetPool } from './pool.js';
export {
  measureSpeed,
  type OnnxRuntime,
  type OnnxSession,
  type SpeedOptions,
  type SpeedReport,
} from './speed.js';
export { ONNX_OPSET, deployToOnnx } from './onnx.js';
