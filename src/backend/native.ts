/**
 * Native CPU kernels under the wasm backend (Node only): oneDNN convolutions and batch
 * normalization, and OpenMP loops for the 1-bit layers' element-wise steps, from the addon in
 * `native/` (built by `scripts/setup.sh` with node-gyp against Debian's `libdnnl-dev`).
 *
 * wasm stays the tensor store: each kernel gets Float32Array views of the wasm heap and works
 * in place there, without copies. Replaced or added on the wasm backend:
 * - `Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter` (float32, NHWC, any padding,
 *   stride and dilation), on oneDNN; `MaxPoolGrad`, `AvgPoolGrad`, and `Add`, `AddN` of
 *   same-shape tensors, as OpenMP loops;
 * - {@link NATIVE_KERNELS}, the per-block steps of layer-wise training (`src/backprop`):
 *   batch normalization's training forward (with the batch statistics) and backward, the sign
 *   and the estimators' gradients, the weight binarizers and their gradients; Adam's update.
 *
 * `BIREAL_NATIVE=0` turns the addon off; where it is not built, training runs on wasm alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type {
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  MaxPoolGradAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { ESTIMATORS, type Binarizer } from '../binarize/index.js';
import { loadNativeAddon } from '../native-addon.js';
import { ISA_NUMBERS, chooseIsa, type NativeIsa } from '../engine/native.js';

/** The addon's functions (see native/bireal_native.cc). */
interface Addon {
  conv(kind: number, shape: number[], x: Float32Array, w: Float32Array, y: Float32Array): void;
  binaryConvGradient(
    kind: 1 | 2,
    route: number,
    shape: number[],
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
  ): void;
  batchNormForward(
    rows: number,
    channels: number,
    epsilon: number,
    ...buffers: Float32Array[]
  ): void;
  batchNormBackward(
    rows: number,
    channels: number,
    epsilon: number,
    ...buffers: Float32Array[]
  ): void;
  sign(x: Float32Array, out: Float32Array): void;
  estimatorGradient(estimator: number, dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  binarizeWeight(scaled: boolean, columns: number, w: Float32Array, wb: Float32Array): void;
  weightGradient(
    magnitudeAware: boolean,
    columns: number,
    dWb: Float32Array,
    w: Float32Array,
    dW: Float32Array,
  ): void;
  maxPoolGrad(shape: number[], dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  avgPoolGrad(shape: number[], dy: Float32Array, dx: Float32Array): void;
  add(out: Float32Array, ...inputs: Float32Array[]): void;
  binaryConv2d(
    isa: number,
    shape: Int32Array,
    x: Float32Array,
    wb: Float32Array,
    y: Float32Array,
  ): void;
  engineIsas(): NativeIsa[];
  adam(hyper: number[], ...buffers: Float32Array[]): void;
  info(): NativeInfo;
  setThreads(threads: number): void;
}

/** What runs the native kernels. */
export interface NativeInfo {
  /** The instruction set of the 1-bit convolutions (popcount), e.g. `avx512-vpopcntdq`. */
  binaryIsa?: NativeIsa;
  /** oneDNN's version, e.g. `2.6.3`. */
  version: string;
  /** The instruction set oneDNN's kernels use on this CPU, e.g. `avx512_core`. */
  isa: string;
  /** OpenMP threads of each kernel. */
  threads: number;
}

/** Names of the layer-wise training steps added to the wasm backend. */
export const NATIVE_KERNELS = {
  /** Inputs x [N,H,W,C], gamma, beta; attr epsilon. Outputs y, batch mean, batch variance. */
  batchNormTraining: 'BirealBatchNormTraining',
  /** Inputs x, dy, gamma, mean, variance; attr epsilon. Outputs dx, dGamma, dBeta. */
  batchNormGrad: 'BirealBatchNormGrad',
  /** Input x. Output sign(x) in {-1, +1}, sign(0) = +1. */
  sign: 'BirealSign',
  /** Inputs dy, x; attr estimator. Output dy times the estimator's derivative at x. */
  estimatorGrad: 'BirealEstimatorGrad',
  /**
   * Inputs x [N,H,W,C], wb (HWIO, one magnitude per output channel: a binarizer's output); attrs
   * strides, pad ('same' or 'valid'). Output conv2d(sign(x), wb), counted by XOR and popcount:
   * identical to the float conv of sign(x) with sign(wb), times |wb|. Its gradient is the
   * convolution's (the sign's estimator belongs to the caller).
   */
  binaryConv: 'BirealBinaryConv2D',
  /**
   * Inputs dy, wb (as for binaryConv); attrs strides, pad, inputShape. Output the conv's dx,
   * before the sign's estimator. Multiplies dy by ±1 weights: see {@link binaryBackwardRoute}.
   */
  binaryConvInputGrad: 'BirealBinaryConv2DBackpropInput',
  /**
   * Inputs x (the layer's input: its signs are taken in the kernel), dy; attrs strides, pad,
   * filterShape. Output the gradient with respect to wb. See {@link binaryBackwardRoute}.
   */
  binaryConvFilterGrad: 'BirealBinaryConv2DBackpropFilter',
  /** Input w (HWIO); attr binarizer. Output the binarized weights. */
  binarizeWeight: 'BirealBinarizeWeight',
  /** Inputs dWb, w; attr binarizer. Output the gradient with respect to w. */
  weightGrad: 'BirealWeightGrad',
  /**
   * Inputs value, m, v, g; attr hyper = [beta1, beta2, lr, epsilon, 1 - beta1^t, 1 - beta2^t].
   * Outputs the new value, m and v of one step of tfjs' Adam.
   */
  adam: 'BirealAdam',
} as const;

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernels use. */
interface WasmBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

type Args = Parameters<KernelFunc>[0];
type Shape4 = [number, number, number, number];

let addon: Addon | undefined;
let loadError: string | undefined;
/** The 1-bit convolutions' instruction set, once the kernels are registered (if the CPU has one). */
let binaryIsa: NativeIsa | undefined;
let tried = false;

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

/**
 * Loads the addon once (Node only). Returns undefined, with the reason in
 * {@link nativeUnavailableReason}, when it is turned off, not built or fails to load.
 */
export async function loadNative(): Promise<Addon | undefined> {
  if (tried) return addon;
  tried = true;
  const loaded = await loadNativeAddon();
  if (typeof loaded === 'string') {
    // Outside Node the native kernels are simply not a question.
    if (isNode) loadError = loaded;
  } else {
    addon = loaded as Addon;
  }
  return addon;
}

/** Why the native kernels are not in use, or undefined when they are (or were never asked for). */
export function nativeUnavailableReason(): string | undefined {
  return loadError;
}

/** The native kernels' library, ISA and threads, when the addon is loaded. */
export function nativeInfo(): NativeInfo | undefined {
  return addon === undefined ? undefined : { ...addon.info(), binaryIsa };
}

/** Sets the OpenMP threads of the native kernels (of the calling thread). */
export function setNativeThreads(threads: number): void {
  addon?.setThreads(threads);
}

/** Whether a kernel (e.g. one of {@link NATIVE_KERNELS}) is registered on the active backend. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Whether the native training steps are registered on the active backend. */
export function nativeTrainingKernels(): boolean {
  return hasKernel(NATIVE_KERNELS.batchNormTraining);
}

function heap(backend: WasmBackend, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info);
}

/** The addon's 17-number description of a conv (see `ConvShape` in the addon). */
function convShape(info: backend_util.Conv2DInfo): number[] {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  const { top, left, bottom, right } = padInfo;
  const [n, h, w, c] = [batchSize, inHeight, inWidth, inChannels];
  return [
    ...[n, h, w, c, filterHeight, filterWidth, outChannels, outHeight, outWidth],
    ...[strideHeight, strideWidth, top, left, bottom, right],
    ...[info.dilationHeight, info.dilationWidth],
  ];
}

/** Runs `fallback` for what the native kernel does not take (non-float32, NCHW). */
function nativeOrFallback(
  native: (args: Args, backend: WasmBackend) => TensorInfo,
  fallback: KernelFunc | undefined,
  name: string,
): KernelFunc {
  return (args: Args) => {
    const attrs = args.attrs as { dataFormat?: string };
    const inputs = Object.values(args.inputs) as TensorInfo[];
    if (attrs.dataFormat !== 'NCHW' && inputs.every((t) => t.dtype === 'float32')) {
      return native(args, args.backend as WasmBackend);
    }
    if (fallback === undefined) throw new Error(`${name}: only float32 NHWC on native kernels`);
    return fallback(args);
  };
}

function conv2D(lib: Addon): (args: Args, backend: WasmBackend) => TensorInfo {
  return ({ inputs, attrs }, backend) => {
    const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
    const { strides, pad, dilations, dimRoundingMode } = attrs as unknown as Conv2DAttrs;
    const info = backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filter.shape as Shape4,
      strides,
      dilations,
      pad,
      dimRoundingMode,
    );
    const y = backend.makeOutput(info.outShape, 'float32');
    lib.conv(0, convShape(info), heap(backend, x), heap(backend, filter), heap(backend, y));
    return y;
  };
}

function conv2DBackpropInput(lib: Addon): (args: Args, backend: WasmBackend) => TensorInfo {
  return ({ inputs, attrs }, backend) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dimRoundingMode, inputShape } =
      attrs as unknown as Conv2DBackpropInputAttrs;
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as Shape4,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const dx = backend.makeOutput(inputShape, 'float32');
    lib.conv(1, convShape(info), heap(backend, dx), heap(backend, filter), heap(backend, dy));
    return dx;
  };
}

function conv2DBackpropFilter(lib: Addon): (args: Args, backend: WasmBackend) => TensorInfo {
  return ({ inputs, attrs }, backend) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dimRoundingMode, filterShape } =
      attrs as unknown as Conv2DBackpropFilterAttrs;
    const info = backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const dW = backend.makeOutput(filterShape, 'float32');
    lib.conv(2, convShape(info), heap(backend, x), heap(backend, dW), heap(backend, dy));
    return dW;
  };
}

function channelsOf(x: TensorInfo): { rows: number; channels: number } {
  const channels = x.shape[x.shape.length - 1] as number;
  const size = x.shape.reduce((a, b) => a * b, 1);
  return { rows: size / channels, channels };
}

function batchNormTraining(lib: Addon): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { x, gamma, beta } = inputs as Record<string, TensorInfo>;
    const input = x as TensorInfo;
    const { rows, channels } = channelsOf(input);
    const y = wasm.makeOutput(input.shape, 'float32');
    const mean = wasm.makeOutput([channels], 'float32');
    const variance = wasm.makeOutput([channels], 'float32');
    const epsilon = (attrs as { epsilon: number }).epsilon;
    lib.batchNormForward(
      rows,
      channels,
      epsilon,
      ...[input, gamma, beta, y, mean, variance].map((t) => heap(wasm, t as TensorInfo)),
    );
    return [y, mean, variance];
  };
}

function batchNormGrad(lib: Addon): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { x, dy, gamma, mean, variance } = inputs as Record<string, TensorInfo>;
    const input = x as TensorInfo;
    const { rows, channels } = channelsOf(input);
    const dx = wasm.makeOutput(input.shape, 'float32');
    const dGamma = wasm.makeOutput([channels], 'float32');
    const dBeta = wasm.makeOutput([channels], 'float32');
    const epsilon = (attrs as { epsilon: number }).epsilon;
    lib.batchNormBackward(
      rows,
      channels,
      epsilon,
      ...[input, dy, gamma, mean, variance, dx, dGamma, dBeta].map((t) =>
        heap(wasm, t as TensorInfo),
      ),
    );
    return [dx, dGamma, dBeta];
  };
}

function sign(lib: Addon): KernelFunc {
  return ({ inputs, backend }) => {
    const wasm = backend as WasmBackend;
    const x = inputs['x'] as TensorInfo;
    const out = wasm.makeOutput(x.shape, 'float32');
    lib.sign(heap(wasm, x), heap(wasm, out));
    return out;
  };
}

function estimatorGrad(lib: Addon): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
    const estimator = ESTIMATORS.indexOf((attrs as { estimator: never }).estimator);
    if (estimator < 0) throw new Error(`${NATIVE_KERNELS.estimatorGrad}: unknown estimator`);
    const dx = wasm.makeOutput(x.shape, 'float32');
    lib.estimatorGradient(estimator, heap(wasm, dy), heap(wasm, x), heap(wasm, dx));
    return dx;
  };
}

function binarizeWeight(lib: Addon): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const w = inputs['w'] as TensorInfo;
    const binarizer = (attrs as { binarizer: Binarizer }).binarizer;
    const wb = wasm.makeOutput(w.shape, 'float32');
    const columns = w.shape[w.shape.length - 1] as number;
    lib.binarizeWeight(binarizer !== 'sign', columns, heap(wasm, w), heap(wasm, wb));
    return wb;
  };
}

function weightGrad(lib: Addon): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { dWb, w } = inputs as { dWb: TensorInfo; w: TensorInfo };
    const binarizer = (attrs as { binarizer: Binarizer }).binarizer;
    const dW = wasm.makeOutput(w.shape, 'float32');
    const columns = w.shape[w.shape.length - 1] as number;
    const magnitudeAware = binarizer === 'magnitude-aware';
    lib.weightGradient(magnitudeAware, columns, heap(wasm, dWb), heap(wasm, w), heap(wasm, dW));
    return dW;
  };
}

function adam(lib: Addon): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { value, m, v, g } = inputs as Record<string, TensorInfo>;
    const shape = (value as TensorInfo).shape;
    const outputs = [0, 1, 2].map(() => wasm.makeOutput(shape, 'float32'));
    const buffers = [value, m, v, g, ...outputs].map((t) => heap(wasm, t as TensorInfo));
    lib.adam((attrs as { hyper: number[] }).hyper, ...buffers);
    return outputs;
  };
}

/**
 * tfjs' `Add` and `AddN` of same-shape float32 tensors on the addon's threads (wasm runs them on
 * one); a broadcast or another dtype goes to wasm's own kernel.
 */
function add(lib: Addon, fallback: KernelFunc | undefined, name: string): KernelFunc {
  return (args) => {
    const inputs = Object.values(args.inputs) as TensorInfo[];
    const [first] = inputs as [TensorInfo];
    const sameShape = (t: TensorInfo) => tf.util.arraysEqual(t.shape, first.shape);
    if (!inputs.every((t) => t.dtype === 'float32' && sameShape(t))) {
      if (fallback === undefined) throw new Error(`${name}: no wasm kernel to fall back on`);
      return fallback(args);
    }
    const wasm = args.backend as WasmBackend;
    const out = wasm.makeOutput(first.shape, 'float32');
    lib.add(heap(wasm, out), ...inputs.map((t) => heap(wasm, t)));
    return out;
  };
}

/**
 * The 1-bit convolution; its shape as the addon takes it, [n, h, w, cin, k, cout, oh, ow, stride,
 * padTop, padLeft, padBottom, padRight].
 */
function binaryConv(lib: Addon, isa: NativeIsa): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { x, wb } = inputs as { x: TensorInfo; wb: TensorInfo };
    const { strides, pad } = attrs as unknown as Conv2DAttrs;
    const info = backend_util.computeConv2DInfo(
      x.shape as Shape4,
      wb.shape as Shape4,
      strides,
      1,
      pad,
    );
    if (info.filterHeight !== info.filterWidth || info.strideHeight !== info.strideWidth) {
      throw new Error(`${NATIVE_KERNELS.binaryConv}: square kernels and strides only`);
    }
    const { top, left, bottom, right } = info.padInfo;
    const shape = Int32Array.from([
      ...[info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight],
      ...[info.outChannels, info.outHeight, info.outWidth, info.strideHeight],
      ...[top, left, bottom, right],
    ]);
    const y = wasm.makeOutput(info.outShape, 'float32');
    lib.binaryConv2d(ISA_NUMBERS[isa], shape, heap(wasm, x), heap(wasm, wb), heap(wasm, y));
    return y;
  };
}

/**
 * How the backward pass of a 1-bit conv runs, from `BIREAL_BINARY_BACKWARD`:
 * - `auto` (the default): split bfloat16 where oneDNN runs AMX and the shape gains, else float32;
 * - `float32`: oneDNN's float32 convolutions of dy with the ±1 values;
 * - `split-bf16`: dy split exactly into three bfloat16 parts, multiplied by the ±1 values (exact
 *   in bfloat16) on oneDNN's bfloat16 convolutions, sums in float32: the float32 result up to
 *   the order of the additions (native/bireal_native.cc). Needs an AVX-512 CPU; fast with AMX.
 */
export const BINARY_BACKWARD_ROUTES = ['auto', 'float32', 'split-bf16'] as const;
export type BinaryBackwardRoute = (typeof BINARY_BACKWARD_ROUTES)[number];

/** The route `BIREAL_BINARY_BACKWARD` names (`auto` when unset); any other value is an error. */
export function binaryBackwardRoute(): BinaryBackwardRoute {
  const value = process.env['BIREAL_BINARY_BACKWARD'] ?? 'auto';
  if (!(BINARY_BACKWARD_ROUTES as readonly string[]).includes(value)) {
    throw new Error(
      `BIREAL_BINARY_BACKWARD must be one of ${BINARY_BACKWARD_ROUTES.join(', ')}, got '${value}'`,
    );
  }
  return value as BinaryBackwardRoute;
}

/** {@link NATIVE_KERNELS.binaryConvInputGrad} (kind 1) or `binaryConvFilterGrad` (kind 2). */
function binaryConvGradient(lib: Addon, kind: 1 | 2): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmBackend;
    const { strides, pad } = attrs as unknown as Conv2DAttrs;
    const { dy } = inputs as { dy: TensorInfo };
    const route = BINARY_BACKWARD_ROUTES.indexOf(binaryBackwardRoute());
    if (kind === 1) {
      const { wb } = inputs as { wb: TensorInfo };
      const { inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
      const info = backend_util.computeConv2DInfo(inputShape, wb.shape as Shape4, strides, 1, pad);
      const dx = wasm.makeOutput(inputShape, 'float32');
      const buffers = [heap(wasm, dx), heap(wasm, wb), heap(wasm, dy)] as const;
      lib.binaryConvGradient(1, route, convShape(info), ...buffers);
      return dx;
    }
    const { x } = inputs as { x: TensorInfo };
    const { filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad);
    const dWb = wasm.makeOutput(filterShape, 'float32');
    lib.binaryConvGradient(
      2,
      route,
      convShape(info),
      heap(wasm, x),
      heap(wasm, dWb),
      heap(wasm, dy),
    );
    return dWb;
  };
}

/**
 * The backward pass of a 1-bit conv on the native kernels: dx before the sign's estimator, and
 * the gradient with respect to the binarized weights wb.
 */
export function binaryConvBackward(
  x: tf.Tensor,
  wb: tf.Tensor,
  dy: tf.Tensor,
  strides: [number, number] | number,
  pad: 'same' | 'valid',
): { dx: () => tf.Tensor; dWb: () => tf.Tensor } {
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
    tf.engine().runKernel(name, inputs, attrs as never) as tf.Tensor;
  return {
    dx: () =>
      run(NATIVE_KERNELS.binaryConvInputGrad, { dy, wb }, { strides, pad, inputShape: x.shape }),
    dWb: () =>
      run(NATIVE_KERNELS.binaryConvFilterGrad, { x, dy }, { strides, pad, filterShape: wb.shape }),
  };
}

/** The gradient of {@link NATIVE_KERNELS.binaryConv}: the convolution's, of sign(x) and wb. */
function registerBinaryConvGradient(): void {
  tf.registerGradient({
    kernelName: NATIVE_KERNELS.binaryConv,
    inputsToSave: ['x', 'wb'],
    gradFunc: (dy, saved, attrs) => {
      const [x, wb] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad } = attrs as unknown as Conv2DAttrs;
      const { dx, dWb } = binaryConvBackward(x, wb, dy as tf.Tensor, strides, pad as 'same');
      return { x: dx, wb: dWb };
    },
  });
}

/** The addon's 12-number description of a pooling (see `PoolShape` in the addon). */
function poolShape(info: backend_util.Conv2DInfo): number[] {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return [
    ...[batchSize, inHeight, inWidth, inChannels, outHeight, outWidth],
    ...[filterHeight, filterWidth, strideHeight, strideWidth, padInfo.top, padInfo.left],
  ];
}

function poolInfo(x: TensorInfo, attrs: unknown): backend_util.Conv2DInfo {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as MaxPoolGradAttrs;
  return backend_util.computePool2DInfo(
    x.shape as Shape4,
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
}

function maxPoolGrad(lib: Addon): (args: Args, backend: WasmBackend) => TensorInfo {
  return ({ inputs, attrs }, backend) => {
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    const dx = backend.makeOutput(input.shape, 'float32');
    const shape = poolShape(poolInfo(input, attrs));
    lib.maxPoolGrad(shape, heap(backend, dy), heap(backend, input), heap(backend, dx));
    return dx;
  };
}

function avgPoolGrad(lib: Addon): (args: Args, backend: WasmBackend) => TensorInfo {
  return ({ inputs, attrs }, backend) => {
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    const dx = backend.makeOutput(input.shape, 'float32');
    lib.avgPoolGrad(poolShape(poolInfo(input, attrs)), heap(backend, dy), heap(backend, dx));
    return dx;
  };
}

/** Replaces (or adds) a kernel without tfjs's overwrite warning. */
function replaceKernel(kernelName: string, kernelFunc: KernelFunc): void {
  if (tf.getKernel(kernelName, 'wasm') !== undefined) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
}

let registeredOnWasm = false;

/**
 * Registers the native kernels on the wasm backend (after its own and the training kernels of
 * `kernels.ts`, which they replace). Returns whether they are in use.
 */
export async function registerNativeKernels(backendName: string): Promise<boolean> {
  if (backendName !== 'wasm') return false;
  if (registeredOnWasm) return true;
  const lib = await loadNative();
  if (lib === undefined) return false;
  registeredOnWasm = true;
  const original = (name: string) => tf.getKernel(name, 'wasm')?.kernelFunc;
  replaceKernel('Conv2D', nativeOrFallback(conv2D(lib), original('Conv2D'), 'Conv2D'));
  for (const [name, kernel] of [
    ['Conv2DBackpropInput', conv2DBackpropInput(lib)],
    ['Conv2DBackpropFilter', conv2DBackpropFilter(lib)],
    ['MaxPoolGrad', maxPoolGrad(lib)],
    ['AvgPoolGrad', avgPoolGrad(lib)],
  ] as const) {
    replaceKernel(name, nativeOrFallback(kernel, original(name), name));
  }
  for (const name of ['Add', 'AddN']) replaceKernel(name, add(lib, original(name), name));
  replaceKernel(NATIVE_KERNELS.batchNormTraining, batchNormTraining(lib));
  replaceKernel(NATIVE_KERNELS.batchNormGrad, batchNormGrad(lib));
  replaceKernel(NATIVE_KERNELS.sign, sign(lib));
  replaceKernel(NATIVE_KERNELS.estimatorGrad, estimatorGrad(lib));
  replaceKernel(NATIVE_KERNELS.binarizeWeight, binarizeWeight(lib));
  replaceKernel(NATIVE_KERNELS.weightGrad, weightGrad(lib));
  replaceKernel(NATIVE_KERNELS.adam, adam(lib));
  binaryIsa = chooseIsa(lib.engineIsas());
  if (binaryIsa !== undefined) {
    replaceKernel(NATIVE_KERNELS.binaryConv, binaryConv(lib, binaryIsa));
    replaceKernel(NATIVE_KERNELS.binaryConvInputGrad, binaryConvGradient(lib, 1));
    replaceKernel(NATIVE_KERNELS.binaryConvFilterGrad, binaryConvGradient(lib, 2));
    registerBinaryConvGradient();
  }
  return true;
}

/** One line, e.g. `oneDNN 2.6.3 kernels (avx512_core, 2 threads)`, or undefined when off. */
export function describeNative(): string | undefined {
  const info = registeredOnWasm ? nativeInfo() : undefined;
  if (info === undefined) return undefined;
  const threads = `${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  const kernels = `oneDNN ${info.version} kernels (${info.isa}, ${threads})`;
  if (info.binaryIsa === undefined) return `${kernels}, 1-bit convs by float`;
  const route = binaryBackwardRoute();
  const gradients =
    route === 'split-bf16' || (route === 'auto' && info.isa === 'avx512_core_amx')
      ? `split bf16${route === 'auto' ? ' where it pays' : ''}`
      : 'float32';
  return `${kernels}, 1-bit convs by popcount on ${info.binaryIsa}, their gradients by ${gradients}`;
}
