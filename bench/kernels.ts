/**
 * Benchmarks the training kernels of src/backend/kernels.ts against the backends' own.
 *
 * Run: `npm run bench -- kernels` or `node dist/bench/kernels.js` after a build (about 40 s on
 * 2 cores). Prints, for wasm,
 * forward Conv2D, the conv-based Conv2DBackpropFilter / Conv2DBackpropInput (polyphase), the
 * zero-dilated-dy alternative and wasm's original Conv2DBackpropInput in GFLOP/s, and MaxPoolGrad
 * in ms; then the native kernels (oneDNN, src/backend/native.ts) beside the wasm ones they
 * replace, at the same shapes, with the speed-up; then the same on cpu at smaller shapes.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import { describeBackend, initBackend } from '../src/backend/index.js';
import { registerNativeKernels } from '../src/backend/native.js';

type Shape4 = [number, number, number, number];

interface ConvCase {
  x: Shape4;
  cout: number;
  k: number;
  stride: number;
}

/** Milliseconds per call: the best of `reps` timed calls after one warm-up call (noisy host). */
function timeMs(fn: () => void, reps: number): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}

/** Runs a kernel through the engine and disposes its result. */
function kernel(name: string, inputs: tf.NamedTensorMap, attrs: NamedAttrMap): void {
  tf.dispose(tf.engine().runKernel(name, inputs, attrs) as tf.Tensor);
}

/** dx of a conv by convolving the zero-dilated dy (the alternative to polyphase), via tf ops. */
function backpropInputDilated(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  inputShape: Shape4,
  stride: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(inputShape, w.shape, stride, 1, 'same');
    const [n, oh, ow, c] = dy.shape;
    const [kh, kw] = w.shape;
    const padded = tf.pad(tf.reshape(dy, [n, oh, 1, ow, 1, c]), [
      [0, 0],
      [0, 0],
      [0, stride - 1],
      [0, 0],
      [0, stride - 1],
      [0, 0],
    ]);
    const dilated = tf.reshape(padded, [n, oh * stride, ow * stride, c]) as tf.Tensor4D;
    const wT = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    const bottom = info.inHeight - oh * stride - top + kh - 1;
    const right = info.inWidth - ow * stride - left + kw - 1;
    if (bottom < 0 || right < 0) throw new Error('bench: shape not supported by the dilated path');
    return tf.conv2d(dilated, wT, 1, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
  });
}

function gflops(flop: number, ms: number): string {
  return ((flop / ms) * 1e-6).toFixed(2).padStart(7);
}

function benchConvs(
  backendName: string,
  cases: ConvCase[],
  originals: Record<string, KernelFunc | undefined>,
  reps: number,
): void {
  for (const { x: xShape, cout, k, stride } of cases) {
    const x = tf.randomNormal(xShape) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, xShape[3], cout]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, stride, 'same');
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const [n, oh, ow] = y.shape;
    const flop = 2 * n * oh * ow * k * k * xShape[3] * cout;
    const common = { strides: stride, pad: 'same', dataFormat: 'NHWC' } as const;
    const label = `${backendName} [${xShape}] -> ${cout} ${k}x${k} s${stride}`;
    const row: string[] = [];
    const fwd = timeMs(() => tf.dispose(tf.conv2d(x, w, stride, 'same')), reps);
    row.push(`fwd ${gflops(flop, fwd)}`);
    const filt = timeMs(
      () => kernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: w.shape }),
      reps,
    );
    row.push(`dW ${gflops(flop, filt)}`);
    const inp = timeMs(
      () => kernel('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: x.shape }),
      reps,
    );
    row.push(`dx ${gflops(flop, inp)}`);
    if (stride > 1) {
      const dil = timeMs(() => tf.dispose(backpropInputDilated(dy, w, x.shape, stride)), reps);
      row.push(`dx-dilated ${gflops(flop, dil)}`);
    }
    for (const [name, original] of Object.entries(originals)) {
      if (original === undefined) continue;
      const inputs = name === 'Conv2DBackpropInput' ? { dy, filter: w } : { x, dy };
      const attrs =
        name === 'Conv2DBackpropInput'
          ? { ...common, inputShape: x.shape }
          : { ...common, filterShape: w.shape };
      const backend = tf.backend() as KernelBackend;
      const ms = timeMs(() => {
        const out = original({ inputs, backend, attrs }) as TensorInfo;
        backend.disposeData(out.dataId);
      }, 1);
      row.push(`orig-${name === 'Conv2DBackpropInput' ? 'dx' : 'dW'} ${gflops(flop, ms)}`);
    }
    console.log(`${label.padEnd(40)} GFLOP/s: ${row.join('  ')}`);
    tf.dispose([x, w, y, dy]);
  }
}

function benchMaxPoolGrad(shape: Shape4, reps: number): void {
  const x = tf.randomNormal(shape) as tf.Tensor4D;
  const y = tf.maxPool(x, 3, 2, 'same');
  const dy = tf.randomNormal(y.shape);
  const attrs = { filterSize: 3, strides: 2, pad: 'same' };
  const ms = timeMs(() => kernel('MaxPoolGrad', { dy, input: x, output: y }, attrs), reps);
  const fwd = timeMs(() => tf.dispose(tf.maxPool(x, 3, 2, 'same')), reps);
  console.log(
    `${tf.getBackend()} MaxPoolGrad 3x3/2 same [${shape}]: ${ms.toFixed(1)} ms` +
      ` (forward maxPool ${fwd.toFixed(1)} ms)`,
  );
  tf.dispose([x, y, dy]);
}

/** The kernels the native addon replaces on wasm, as timed by {@link timeReplaced}. */
const REPLACED = ['fwd', 'dW', 'dx'] as const;

/**
 * Milliseconds of the conv kernels (forward, dW, dx) at each case, then of MaxPoolGrad, with
 * whatever kernels are registered on the active backend now.
 */
function timeReplaced(cases: ConvCase[], reps: number): number[][] {
  const rows = cases.map(({ x: xShape, cout, k, stride }) => {
    const x = tf.randomNormal(xShape) as tf.Tensor4D;
    const filter = tf.randomNormal([k, k, xShape[3], cout]) as tf.Tensor4D;
    const dy = tf.randomNormal(tf.conv2d(x, filter, stride, 'same').shape) as tf.Tensor4D;
    const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 } as const;
    const filterShape = filter.shape;
    const row = [
      timeMs(() => kernel('Conv2D', { x, filter }, attrs), reps),
      timeMs(() => kernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape }), reps),
      timeMs(
        () => kernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: x.shape }),
        reps,
      ),
    ];
    tf.dispose([x, filter, dy]);
    return row;
  });
  const x = tf.randomNormal([32, 112, 112, 64]) as tf.Tensor4D;
  const y = tf.maxPool(x, 3, 2, 'same');
  const dy = tf.randomNormal(y.shape);
  const attrs = { filterSize: 3, strides: 2, pad: 'same' };
  rows.push([timeMs(() => kernel('MaxPoolGrad', { dy, input: x, output: y }, attrs), reps)]);
  tf.dispose([x, y, dy]);
  return rows;
}

/** Prints the native kernels' rates beside the wasm kernels' (both from {@link timeReplaced}). */
function printNative(cases: ConvCase[], wasm: number[][], native: number[][]): void {
  cases.forEach(({ x: xShape, cout, k, stride }, i) => {
    const [n, h, w] = xShape;
    const flop = 2 * n * Math.ceil(h / stride) * Math.ceil(w / stride) * k * k * xShape[3] * cout;
    const row = REPLACED.map((name, j) => {
      const [ours, theirs] = [native[i]?.[j] as number, wasm[i]?.[j] as number];
      return `${name} ${gflops(flop, ours)} (wasm ${gflops(flop, theirs).trim()}, ${(theirs / ours).toFixed(1)}x)`;
    });
    console.log(`native [${xShape}] -> ${cout} ${k}x${k} s${stride} GFLOP/s: ${row.join('  ')}`);
  });
  const [ours, theirs] = [native[cases.length]?.[0] as number, wasm[cases.length]?.[0] as number];
  console.log(
    `native MaxPoolGrad 3x3/2 same [32,112,112,64]: ${ours.toFixed(1)} ms (wasm ${theirs.toFixed(1)} ms, ${(theirs / ours).toFixed(1)}x)`,
  );
}

/** Runs the kernel benchmarks (no options). */
export async function run(_args: string[] = []): Promise<void> {
  // wasm's and cpu's own kernels, saved before initBackend replaces them.
  const wasmOriginals = {
    Conv2DBackpropInput: tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc,
  };
  const cpuOriginals = {
    Conv2DBackpropFilter: tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc,
  };
  const t0 = performance.now();
  console.log(
    'fwd: Conv2D; dW, dx: the kernels registered by initBackend (cpu keeps its own dx);\n' +
      "dx-dilated: conv over the zero-dilated dy (the alternative); orig-*: the backend's own kernel",
  );
  await initBackend({ backend: 'wasm', native: false });
  const wasmCases: ConvCase[] = [
    { x: [32, 56, 56, 64], cout: 64, k: 3, stride: 1 },
    { x: [32, 56, 56, 64], cout: 128, k: 3, stride: 2 },
    { x: [32, 28, 28, 128], cout: 128, k: 3, stride: 1 },
    { x: [32, 56, 56, 64], cout: 128, k: 1, stride: 2 },
  ];
  benchConvs('wasm', wasmCases, wasmOriginals, 3);
  benchMaxPoolGrad([32, 112, 112, 64], 5);
  const nativeCases: ConvCase[] = [
    ...wasmCases,
    { x: [32, 224, 224, 3], cout: 64, k: 7, stride: 2 },
  ];
  const wasmTimes = timeReplaced(nativeCases, 3);
  if (await registerNativeKernels('wasm')) {
    console.log(`\n${describeBackend()}`);
    printNative(nativeCases, wasmTimes, timeReplaced(nativeCases, 3));
  } else {
    console.log('\nnative kernels: not in use (BIREAL_NATIVE=0 or the addon is not built)');
  }

  await initBackend({ backend: 'cpu' });
  benchConvs(
    'cpu',
    [
      { x: [4, 14, 14, 16], cout: 16, k: 3, stride: 1 },
      { x: [4, 14, 14, 16], cout: 32, k: 3, stride: 2 },
    ],
    cpuOriginals,
    3,
  );
  benchMaxPoolGrad([4, 56, 56, 32], 3);
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

// Also runnable directly: `node dist/bench/kernels.js`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run(process.argv.slice(2));
}
