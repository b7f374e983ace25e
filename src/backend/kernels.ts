/**
 * Training kernels that TensorFlow.js 4.22 lacks, gets wrong or runs too slowly.
 *
 * - wasm has no `Conv2DBackpropFilter`, so no convolution can be trained there. It is computed
 *   with the backend's fast forward `Conv2D` (XNNPACK on wasm): the conv of x^T [Cin,H,W,N] with
 *   dy^T [OH,OW,N,Cout] at dilation = stride; unpadded 1x1 convs use one matmul instead.
 * - wasm's `Conv2DBackpropInput` is a naive loop, ~12x slower than its forward conv. It is
 *   replaced by stride-1 forward convs on dy with the flipped, in/out-transposed kernel: one per
 *   stride phase (polyphase: s*s sub-kernels), interleaved by a transpose. This measured ~3.5x
 *   faster than one conv over the zero-dilated dy and ~1.5x faster than one conv with all phases
 *   stacked in its output channels (plus wasm's slow `DepthToSpace`).
 * - wasm's `MaxPoolGrad` (C++) starts its running maximum at `numeric_limits<float>::min()`, the
 *   smallest positive float rather than the lowest, so a window whose values are all <= 0 loses
 *   its gradient (or sends it to element 0 of the tensor); it also prefers the last of tied maxima
 *   and takes ~0.8 s on the 224-px Bi-Real stem. It is replaced by a JS kernel on the wasm heap
 *   that routes each gradient to the first maximal element of its window, like cpu and TF.
 * - `AvgPoolGrad` (wasm and cpu) divides each window's gradient by the window's full size where
 *   'same' padding cuts the window, while `AvgPool` divides by the cells inside: the gradient at a
 *   map's odd edge was half (2x2 pools) of the true one. dy is rescaled before the kernel runs.
 * - the cpu backend's `Conv2DBackpropFilter` runs at ~0.01 GFLOP/s; the conv-based one above is
 *   generic over backends and runs at ~0.5 GFLOP/s there, so cpu gets it too (cpu's own
 *   `Conv2DBackpropInput` is as fast as the conv-based one and is kept).
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type {
  AvgPoolGradAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';

type Shape4 = [number, number, number, number];
type KernelArgs = Parameters<KernelFunc>[0];
/** Runs a kernel of one backend directly (no engine bookkeeping, no tape). */
type Run = (name: string, inputs: NamedTensorInfoMap | TensorInfo[], attrs?: object) => TensorInfo;

/** The parts of tfjs-backend-wasm's `BackendWasm` that the max-pool kernel uses. */
interface WasmBackendLike extends KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

/** Backends whose kernels have been registered by this module. */
const registered = new Set<string>();

/** Binds kernel calls to `backendName` (kernels looked up at call time) and `backend`. */
function runner(backendName: string, backend: KernelBackend): Run {
  return (name, inputs, attrs = {}) => {
    const config = tf.getKernel(name, backendName);
    if (config === undefined) throw new Error(`kernel ${name} is not registered on ${backendName}`);
    // Concat takes its inputs as an array.
    const named = inputs as NamedTensorInfoMap;
    const out = config.kernelFunc({ inputs: named, backend, attrs: attrs as NamedAttrMap });
    return Array.isArray(out) ? (out[0] as TensorInfo) : out;
  };
}

/** Releases intermediate results of direct kernel calls. */
function dispose(backend: KernelBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Attributes of a stride-1 NHWC `Conv2D` with explicit padding [top, bottom, left, right]. */
function convAttrs(pads: number[], dilations: [number, number]): object {
  const [top, bottom, left, right] = pads;
  const pad = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  return { strides: [1, 1], pad, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined };
}

/** Transposes [N,H,W,C] to [C,H,W,N] in two cheap steps ([HW,N,C], then a 2-D transpose). */
function transposeToCHWN(run: Run, backend: KernelBackend, x: TensorInfo): TensorInfo {
  const [n, h, w, c] = x.shape as Shape4;
  const flat = run('Reshape', { x }, { shape: [n, h * w, c] });
  const moved = run('Transpose', { x: flat }, { perm: [1, 0, 2] });
  const rows = run('Reshape', { x: moved }, { shape: [h * w * n, c] });
  const cols = run('Transpose', { x: rows }, { perm: [1, 0] });
  const out = run('Reshape', { x: cols }, { shape: [c, h, w, n] });
  dispose(backend, flat, moved, rows, cols);
  return out;
}

/**
 * `Conv2DBackpropFilter` of an unpadded 1x1 conv: dW = xs^T dy as one matmul, xs being x
 * subsampled by the stride (a 1x1 `AvgPool`, exact). Returns undefined when not applicable.
 */
function backpropFilter1x1(
  run: Run,
  backend: KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | undefined {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  if (filterHeight !== 1 || filterWidth !== 1 || padInfo.top !== 0 || padInfo.left !== 0) {
    return undefined;
  }
  const { batchSize, outHeight, outWidth, inChannels, outChannels } = info;
  let xs = x;
  if (strideHeight > 1 || strideWidth > 1) {
    const strides = [strideHeight, strideWidth];
    xs = run('AvgPool', { x }, { filterSize: [1, 1], strides, pad: 'valid' });
    if (xs.shape[1] !== outHeight || xs.shape[2] !== outWidth) {
      dispose(backend, xs);
      return undefined;
    }
  }
  const m = batchSize * outHeight * outWidth;
  const x2 = run('Reshape', { x: xs }, { shape: [m, inChannels] });
  if (xs !== x) dispose(backend, xs);
  // Transposed explicitly: wasm's matmul with transposeA is ~10x slower.
  const xT2 = run('Transpose', { x: x2 }, { perm: [1, 0] });
  const a = run('Reshape', { x: xT2 }, { shape: [1, inChannels, m] });
  const b = run('Reshape', { x: dy }, { shape: [1, m, outChannels] });
  const prod = run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  const dW = run('Reshape', { x: prod }, { shape: [1, 1, inChannels, outChannels] });
  dispose(backend, x2, xT2, a, b, prod);
  return dW;
}

/**
 * `Conv2DBackpropFilter` as one forward conv: dW[kh,kw,ci,co] = sum over n,oh,ow of
 * x[n, oh*sh + kh - top, ow*sw + kw - left, ci] * dy[n,oh,ow,co], i.e. the conv of
 * x^T [Cin,H,W,N] with the "filter" dy^T [OH,OW,N,Cout] at dilation = stride.
 */
function conv2DBackpropFilterViaConv(backendName: string, fallback?: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const backend = args.backend as KernelBackend;
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const x = args.inputs['x'] as TensorInfo;
    const dy = args.inputs['dy'] as TensorInfo;
    if (attrs.dataFormat === 'NCHW') {
      if (fallback !== undefined) return fallback(args);
      throw new Error(`Conv2DBackpropFilter on ${backendName} supports only dataFormat NHWC`);
    }
    const run = runner(backendName, backend);
    const info = backend_util.computeConv2DInfo(
      x.shape as Shape4,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const viaMatMul = backpropFilter1x1(run, backend, x, dy, info);
    if (viaMatMul !== undefined) return viaMatMul;
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
    const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
    // The forward conv reads rows [-top, (OH-1)*sh + KH - top) of x: pad or crop the bottom.
    const bottom = (outHeight - 1) * strideHeight + filterHeight - inHeight - padInfo.top;
    const right = (outWidth - 1) * strideWidth + filterWidth - inWidth - padInfo.left;
    let xs = x;
    if (bottom < 0 || right < 0) {
      // The stride does not divide evenly: the last rows/columns of x are never read.
      const size = [batchSize, inHeight + Math.min(bottom, 0), inWidth + Math.min(right, 0)];
      xs = run('Slice', { x }, { begin: [0, 0, 0, 0], size: [...size, inChannels] });
    }
    const xT = transposeToCHWN(run, backend, xs);
    if (xs !== x) dispose(backend, xs);
    const dyT = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
    const pads = [padInfo.top, Math.max(bottom, 0), padInfo.left, Math.max(right, 0)];
    const conv = run(
      'Conv2D',
      { x: xT, filter: dyT },
      convAttrs(pads, [strideHeight, strideWidth]),
    );
    dispose(backend, xT, dyT);
    if (conv.shape[1] !== filterHeight || conv.shape[2] !== filterWidth) {
      dispose(backend, conv);
      throw new Error(`Conv2DBackpropFilter: internal shape error ${conv.shape}`);
    }
    // [Cin, KH, KW, Cout] -> [KH, KW, Cin, Cout]
    const dW = run('Transpose', { x: conv }, { perm: [1, 2, 0, 3] });
    dispose(backend, conv);
    return dW;
  };
}

/**
 * Sub-kernel of phase (rh, rw) of the transposed conv, shape [Th,Tw,Cout,Cin] with
 * Th = ceil((KH - rh) / sh): g[uh,uw,co,ci] = W[rh + (Th-1-uh)*sh, rw + (Tw-1-uw)*sw, ci, co].
 */
function phaseFilter(
  w: Float32Array,
  [kh, kw, cin, cout]: Shape4,
  [sh, sw, rh, rw]: Shape4,
): { data: Float32Array; shape: Shape4 } {
  const th = Math.ceil((kh - rh) / sh);
  const tw = Math.ceil((kw - rw) / sw);
  const g = new Float32Array(th * tw * cout * cin);
  for (let uh = 0; uh < th; uh++) {
    const fh = rh + (th - 1 - uh) * sh;
    for (let uw = 0; uw < tw; uw++) {
      const fw = rw + (tw - 1 - uw) * sw;
      const gBase = (uh * tw + uw) * cout * cin;
      const wBase = (fh * kw + fw) * cin * cout;
      for (let ci = 0; ci < cin; ci++) {
        const wRow = wBase + ci * cout;
        let gi = gBase + ci;
        for (let co = 0; co < cout; co++, gi += cin) g[gi] = w[wRow + co] as number;
      }
    }
  }
  return { data: g, shape: [th, tw, cout, cin] };
}

/** One stride-1 conv of dy with padding [top, bottom, left, right]; negative crops dy instead. */
function convWithPadding(
  run: Run,
  backend: KernelBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  pads: Shape4,
): TensorInfo {
  let x = dy;
  if (pads.some((p) => p < 0)) {
    const [n, h, w, c] = dy.shape as Shape4;
    const [top, bottom, left, right] = pads.map((p) => Math.max(-p, 0)) as Shape4;
    const size = [n, h - top - bottom, w - left - right, c];
    x = run('Slice', { x: dy }, { begin: [0, top, left, 0], size });
  }
  const positive = pads.map((p) => Math.max(p, 0));
  const out = run('Conv2D', { x, filter }, convAttrs(positive, [1, 1]));
  if (x !== dy) dispose(backend, x);
  return out;
}

/**
 * `Conv2DBackpropInput` as stride-1 forward convs (polyphase). With j = i + top (i: row of dx)
 * and j = q*s + r, dx row i gets sum over t of dy[q - t] * W[r + t*s]: for each phase r a
 * correlation of dy with a sub-kernel. The phases are concatenated along channels and
 * interleaved by a 6-D transpose (phases without taps, when K < s, are zero-padded in); a final
 * slice drops the rows before `top mod s` and after H. For stride 1 this is a single conv.
 */
function conv2DBackpropInputViaConv(backendName: string, fallback?: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const backend = args.backend as KernelBackend;
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const dy = args.inputs['dy'] as TensorInfo;
    const filter = args.inputs['filter'] as TensorInfo;
    if (attrs.dataFormat === 'NCHW') {
      if (fallback !== undefined) return fallback(args);
      throw new Error(`Conv2DBackpropInput on ${backendName} supports only dataFormat NHWC`);
    }
    const run = runner(backendName, backend);
    const info = backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as Shape4,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const { batchSize: n, inHeight, inWidth, inChannels: c, filterHeight, filterWidth } = info;
    const { strideHeight: sh, strideWidth: sw, padInfo } = info;
    const outHeight = dy.shape[1] as number;
    const outWidth = dy.shape[2] as number;
    // Phase rows needed: q in [qMin, qMin + qH) covers j = top .. top + H - 1.
    const qMinH = Math.floor(padInfo.top / sh);
    const qMinW = Math.floor(padInfo.left / sw);
    const qH = Math.floor((padInfo.top + inHeight - 1) / sh) - qMinH + 1;
    const qW = Math.floor((padInfo.left + inWidth - 1) / sw) - qMinW + 1;
    // Phases with at least one tap.
    const ah = Math.min(sh, filterHeight);
    const aw = Math.min(sw, filterWidth);
    const w = backend.readSync(filter.dataId) as Float32Array; // a copy on wasm: read-only
    const phases: TensorInfo[] = [];
    for (let rh = 0; rh < ah; rh++) {
      for (let rw = 0; rw < aw; rw++) {
        const g = phaseFilter(w, filter.shape as Shape4, [sh, sw, rh, rw]);
        const dataId = backend.write(g.data, g.shape, 'float32');
        const gInfo: TensorInfo = { dataId, shape: g.shape, dtype: 'float32' };
        // Pads making conv output o phase row q = qMin + o.
        const [th, tw] = g.shape;
        const pads: Shape4 = [
          th - 1 - qMinH,
          qH - outHeight + qMinH,
          tw - 1 - qMinW,
          qW - outWidth + qMinW,
        ];
        phases.push(convWithPadding(run, backend, dy, gInfo, pads));
        dispose(backend, gInfo);
      }
    }
    let full = phases[0] as TensorInfo;
    if (phases.length > 1) {
      full = run('Concat', phases, { axis: 3 });
      dispose(backend, ...phases);
    }
    if (sh > 1 || sw > 1) {
      // [N, qH, qW, aH*aW*C] -> [N, qH, aH, qW, aW, C] -> pad to sh, sw -> [N, qH*sh, qW*sw, C]
      const split = run('Reshape', { x: full }, { shape: [n, qH, qW, ah, aw, c] });
      const moved =
        ah > 1
          ? run('Transpose', { x: split }, { perm: [0, 1, 3, 2, 4, 5] })
          : run('Reshape', { x: split }, { shape: [n, qH, ah, qW, aw, c] });
      let padded = moved;
      if (ah < sh || aw < sw) {
        const paddings = [
          [0, 0],
          [0, 0],
          [0, sh - ah],
          [0, 0],
          [0, sw - aw],
          [0, 0],
        ];
        padded = run('PadV2', { x: moved }, { paddings, constantValue: 0 });
      }
      const interleaved = run('Reshape', { x: padded }, { shape: [n, qH * sh, qW * sw, c] });
      dispose(backend, full, split, moved);
      if (padded !== moved) dispose(backend, padded);
      full = interleaved;
    }
    const offH = padInfo.top - qMinH * sh;
    const offW = padInfo.left - qMinW * sw;
    if (offH === 0 && offW === 0 && full.shape[1] === inHeight && full.shape[2] === inWidth) {
      return full;
    }
    const size = [n, inHeight, inWidth, c];
    const dx = run('Slice', { x: full }, { begin: [0, offH, offW, 0], size });
    dispose(backend, full);
    return dx;
  };
}

/**
 * Correct `MaxPoolGrad` for wasm, computed in JS directly on the wasm heap: each dy goes to the
 * first (row-major) element of its window that equals the forward output, i.e. the first maximal
 * element, as in the cpu backend and TensorFlow. Scanning the window per channel with an early
 * exit keeps it branch-predictable.
 */
function maxPoolGradWasm(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  const dy = args.inputs['dy'] as TensorInfo;
  const input = args.inputs['input'] as TensorInfo;
  const output = args.inputs['output'] as TensorInfo;
  const info = backend_util.computePool2DInfo(
    input.shape as Shape4,
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth, padInfo } = info;
  const dx = backend.makeOutput(input.shape, 'float32');
  // Views only after the allocation: growing the heap detaches older views.
  const xv = backend.typedArrayFromHeap(input);
  const yv = backend.typedArrayFromHeap(output);
  const dyv = backend.typedArrayFromHeap(dy);
  const dxv = backend.typedArrayFromHeap(dx);
  dxv.fill(0);
  const taps = new Int32Array(filterHeight * filterWidth);
  const rowStride = w * c;
  let yIndex = 0;
  for (let n = 0; n < batchSize; n++) {
    const batchBase = n * h * rowStride;
    for (let oh = 0; oh < outHeight; oh++) {
      const hStart = oh * strideHeight - padInfo.top;
      const h0 = Math.max(hStart, 0);
      const h1 = Math.min(hStart + filterHeight, h);
      for (let ow = 0; ow < outWidth; ow++, yIndex += c) {
        const wStart = ow * strideWidth - padInfo.left;
        const w0 = Math.max(wStart, 0);
        const w1 = Math.min(wStart + filterWidth, w);
        let count = 0;
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) taps[count++] = batchBase + ih * rowStride + iw * c;
        }
        for (let ch = 0; ch < c; ch++) {
          const target = yv[yIndex + ch] as number;
          for (let t = 0; t < count; t++) {
            const i = (taps[t] as number) + ch;
            if (xv[i] === target) {
              dxv[i] = (dxv[i] as number) + (dyv[yIndex + ch] as number);
              break;
            }
          }
        }
      }
    }
  }
  return dx;
}

/**
 * `AvgPoolGrad` as the gradient of tfjs' `AvgPool`, which divides each window's sum by the cells
 * inside the input: tfjs' own kernels divide the gradient by the window's full size, padding
 * included, too little where 'same' padding cuts a window (half, at the odd edge of a 2x2 pool).
 * dy is scaled by (full size / cells inside) first, then the backend's kernel runs.
 */
function avgPoolGradExact(backendName: string, original: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const { filterSize, strides, pad } = args.attrs as unknown as AvgPoolGradAttrs;
    const info = backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad);
    const { outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
    const inside = (first: number, k: number, size: number) =>
      Math.min(first + k, size) - Math.max(first, 0);
    const factors = new Float32Array(outHeight * outWidth);
    for (let i = 0; i < outHeight; i++) {
      const rows = inside(i * strideHeight - info.padInfo.top, filterHeight, info.inHeight);
      for (let j = 0; j < outWidth; j++) {
        const columns = inside(j * strideWidth - info.padInfo.left, filterWidth, info.inWidth);
        factors[i * outWidth + j] = (filterHeight * filterWidth) / (rows * columns);
      }
    }
    if (factors.every((f) => f === 1)) return original(args);
    const backend = args.backend as KernelBackend;
    const run = runner(backendName, backend);
    const shape = [1, outHeight, outWidth, 1];
    const factor: TensorInfo = {
      dataId: backend.write(factors, shape, 'float32'),
      shape,
      dtype: 'float32',
    };
    const scaled = run('Multiply', { a: dy, b: factor });
    const dx = original({ ...args, inputs: { dy: scaled, input } }) as TensorInfo;
    dispose(backend, factor, scaled);
    return dx;
  };
}

/**
 * `Identity` that shares the input's buffer (reference-counted), as the cpu backend does. wasm's
 * own copies it, and the engine clones every tensor a gradient saves: on a training step that
 * doubled the memory held for the backward pass and copied hundreds of MB.
 */
function identitySharedWasm(args: KernelArgs): TensorInfo {
  const x = args.inputs['x'] as TensorInfo;
  if (x.dtype === 'string') throw new Error('Identity on wasm: string tensors are not supported');
  (args.backend as KernelBackend & { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Replaces (or adds) kernel `kernelName` on `backendName`, without tfjs's overwrite warning. */
function replaceKernel(kernelName: string, backendName: string, kernelFunc: KernelFunc): void {
  if (tf.getKernel(kernelName, backendName) !== undefined) {
    tf.unregisterKernel(kernelName, backendName);
  }
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/** Registers the training kernels `backendName` needs (wasm, cpu); idempotent, no-op otherwise. */
export function registerTrainingKernels(backendName: string): void {
  if (backendName !== 'wasm' && backendName !== 'cpu') return;
  if (registered.has(backendName)) return;
  // The backend's own kernels (Conv2D, Transpose...) must be registered first.
  if (tf.getKernel('Conv2D', backendName) === undefined) return;
  registered.add(backendName);
  const originalAvgPoolGrad = tf.getKernel('AvgPoolGrad', backendName)?.kernelFunc;
  if (originalAvgPoolGrad !== undefined) {
    replaceKernel('AvgPoolGrad', backendName, avgPoolGradExact(backendName, originalAvgPoolGrad));
  }
  const originalFilter = tf.getKernel('Conv2DBackpropFilter', backendName)?.kernelFunc;
  replaceKernel(
    'Conv2DBackpropFilter',
    backendName,
    conv2DBackpropFilterViaConv(backendName, originalFilter),
  );
  if (backendName === 'wasm') {
    // On cpu the original Conv2DBackpropInput is as fast as the conv-based one: kept.
    const originalInput = tf.getKernel('Conv2DBackpropInput', backendName)?.kernelFunc;
    replaceKernel(
      'Conv2DBackpropInput',
      backendName,
      conv2DBackpropInputViaConv(backendName, originalInput),
    );
    replaceKernel('MaxPoolGrad', backendName, maxPoolGradWasm as unknown as KernelFunc);
    replaceKernel('Identity', backendName, identitySharedWasm as unknown as KernelFunc);
  }
}
