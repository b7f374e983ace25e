/**
 * The engine's speed against float arithmetic, measured the same way in Node and in browsers:
 * ms per image (batch 1) of (a) the packed engine, (b) the same 1-bit model float-emulated on
 * the current tfjs backend, (c) the real ResNet of the same depth on that backend and, when given
 * ONNX Runtime, (d) that ResNet and (e) the float-emulated 1-bit model exported to ONNX on it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describeBackend } from '../backend/index.js';
import { createModel, type ModelName } from '../models/index.js';
import { exportModel } from './export.js';
import { decodeDeployFile } from './format.js';
import { deployToOnnx } from './onnx.js';
import { PackedNet, popcountThroughput, type KernelSource, type OpProfile } from './runtime.js';

/** A session of ONNX Runtime, as {@link OnnxRuntime} creates it. */
export interface OnnxSession {
  /**
   * Runs the model on its named inputs.
   * @param feeds - the input tensors by name.
   */
  run(feeds: Record<string, unknown>): Promise<unknown>;
  /** Frees the session. */
  release(): Promise<void>;
}

/**
 * The parts of ONNX Runtime's JavaScript API that {@link measureSpeed} uses: the module of
 * `onnxruntime-node` or of `onnxruntime-web` fits (the library depends on neither).
 */
export interface OnnxRuntime {
  InferenceSession: {
    /**
     * Creates a session of an ONNX model's bytes.
     * @param model - the bytes of the ONNX model.
     * @param options - threads, graph optimisation, where it runs.
     */
    create(
      model: Uint8Array,
      options: {
        intraOpNumThreads: number;
        interOpNumThreads: number;
        graphOptimizationLevel: 'all';
        executionProviders: ('cpu' | 'wasm')[];
      },
    ): Promise<OnnxSession>;
  };
  /**
   * Makes a tensor.
   * @param type - its element type.
   * @param data - its values.
   * @param dims - its shape.
   */
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env: {
    versions: { common: string; node?: string; web?: string };
    wasm?: { numThreads?: number };
  };
}

/** Options of {@link measureSpeed}. */
export interface SpeedOptions {
  /** The 1-bit model; default 'bireal18' (compared with 'resnet18'). */
  model?: 'bireal18' | 'bireal34';
  /** Input size; default 224. */
  inputSize?: number;
  /** Classes; default 1000. */
  classes?: number;
  /** Timed rounds, each running every contender once (after warm-up); default 10. */
  runs?: number;
  /** Where the engine's wasm comes from (browsers); Node reads it beside the library. */
  kernels?: KernelSource;
  /**
   * ONNX Runtime's module (`onnxruntime-node` in Node, `onnxruntime-web` in browsers, with its
   * wasm files placed): also times (d) and (e) on it, one thread, every graph optimisation.
   */
  onnxRuntime?: OnnxRuntime;
  /** Called with a line of progress; may return a promise (a page lets itself repaint). */
  progress?: (message: string) => void | Promise<void>;
}

/** What {@link measureSpeed} measured (medians over the runs; per-op times are minima). */
export interface SpeedReport {
  model: string;
  inputSize: number;
  classes: number;
  runs: number;
  /** The tfjs backend of (b) and (c), e.g. `wasm (SIMD, 1 thread)`. */
  backend: string;
  /** What runs the engine's kernels (see PackedNet.backend): `wasm` or `native avx512-vpopcntdq`. */
  engine: string;
  engineMs: number;
  emulatedMs: number;
  realMs: number;
  /** The engine's steps, each the fastest of the runs. */
  ops: OpProfile[];
  /**
   * With `onnxRuntime`: which one, e.g. `onnxruntime-node 1.31.1 (CPU, 1 thread)`, and the ms
   * of (d) the real ResNet and (e) the float-emulated 1-bit model on it.
   */
  onnx?: { runtime: string; realMs: number; emulatedMs: number };
  /** 1-bit multiply-accumulates per image, and per second in the 1-bit convolutions. */
  binaryMacs: number;
  binaryOpsPerSecond: number;
  /** The popcount loop's ceiling on this core (see popcountThroughput). */
  popcountPeak: number;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

function tfjsPredict(model: tfl.LayersModel, image: tf.Tensor4D): () => void {
  return () => tf.tidy(() => (model.predict(image) as tf.Tensor).dataSync());
}

/** An ONNX Runtime session of a deploy file on one thread, and one image to run it on. */
async function onnxSession(
  ort: OnnxRuntime,
  deployFile: Uint8Array,
  image: Float32Array,
  shape: number[],
) {
  if (ort.env.wasm !== undefined) ort.env.wasm.numThreads = 1; // before the first session
  const session = await ort.InferenceSession.create(deployToOnnx(decodeDeployFile(deployFile)), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: [ort.env.versions.web === undefined ? 'cpu' : 'wasm'],
  });
  const input = new ort.Tensor('float32', image, shape);
  return { run: () => session.run({ input }), release: () => session.release() };
}

/** What {@link onnxSession} runs on: `onnxruntime-node 1.31.1 (CPU, 1 thread)` or the web one. */
function describeOnnxRuntime(ort: OnnxRuntime): string {
  const { node, web, common } = ort.env.versions;
  return node !== undefined
    ? `onnxruntime-node ${node} (CPU, 1 thread)`
    : `onnxruntime-web ${web ?? common} (wasm SIMD, 1 thread)`;
}

/**
 * Measures (a), (b) and (c), and with `onnxRuntime` (d) and (e), on random weights (timing does
 * not depend on their values); the tfjs backend must be initialised. Takes a few seconds at
 * 224 px (more with ONNX Runtime: exporting and loading two float models).
 * @param options - input size, classes, timed runs, the kernels, and ONNX Runtime for (d) and (e).
 */
export async function measureSpeed(options: SpeedOptions = {}): Promise<SpeedReport> {
  const name: ModelName = options.model ?? 'bireal18';
  const real: ModelName = name === 'bireal18' ? 'resnet18' : 'resnet34';
  const inputSize = options.inputSize ?? 224;
  const classes = options.classes ?? 1000;
  const runs = options.runs ?? 10;
  const say = async (message: string) => {
    await options.progress?.(message);
  };
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
  const shape: [number, number, number, number] = [1, inputSize, inputSize, 3];
  const image = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const pixels = image.dataSync() as Float32Array;

  await say(`building ${name}, its deploy file and ${real}`);
  const binary = createModel(name, { inputSize, classes, seed: 1 });
  const deployFile = (model: tfl.LayersModel, modelName: string) =>
    exportModel(model, {
      model: modelName,
      modelOptions: {},
      preprocessing: { size: inputSize, channels: 3, mean: [0], std: [1], resizeRatio: 1 },
      labels: [],
      source: { weights: 'random (speed only)' },
    });
  const bytes = deployFile(binary, name);
  const net = await PackedNet.load(bytes, options.kernels);
  const realModel = createModel(real, { inputSize, classes, seed: 1 });
  const contenders: { run: () => unknown; warmup: number; ms: number[] }[] = [
    { run: () => net.run(pixels), warmup: 10, ms: [] }, // wasm tiers up meanwhile
    { run: tfjsPredict(binary, image), warmup: 2, ms: [] },
    { run: tfjsPredict(realModel, image), warmup: 2, ms: [] },
  ];
  const ort = options.onnxRuntime;
  const sessions = [];
  if (ort !== undefined) {
    await say(`exporting ${real} and ${name} to ONNX for ONNX Runtime`);
    for (const file of [deployFile(realModel, real), bytes]) {
      const session = await onnxSession(ort, file, pixels, shape);
      sessions.push(session);
      contenders.push({ run: session.run, warmup: 3, ms: [] });
    }
  }
  const names = ['(a)', '(b)', '(c)', '(d)', '(e)'].slice(0, contenders.length).join(', ');
  await say('warming up');
  for (const { run, warmup } of contenders) for (let i = 0; i < warmup; i++) await run();
  // Round-robin, so that a slower spell of the machine slows every contender alike.
  const profiles: OpProfile[][] = [];
  for (let round = 1; round <= runs; round++) {
    await say(`round ${round} of ${runs}: ${names}`);
    for (const { run, ms } of contenders) {
      await pause();
      const start = performance.now();
      await run();
      ms.push(performance.now() - start);
    }
    profiles.push(net.profile(pixels).ops);
  }
  await Promise.all(sessions.map((session) => session.release()));
  binary.dispose();
  realModel.dispose();
  image.dispose();
  const [engineMs, emulatedMs, realMs, onnxRealMs, onnxEmulatedMs] = contenders.map(({ ms }) =>
    median(ms),
  ) as [number, number, number, number?, number?];
  const ops = (profiles[0] as OpProfile[]).map((op, i) => ({
    ...op,
    ms: Math.min(...profiles.map((p) => (p[i] as OpProfile).ms)),
  }));
  const binaryOps = ops.filter((op) => op.op === 'binaryConv');
  const binaryMacs = binaryOps.reduce((sum, op) => sum + op.binaryMacs, 0);
  const binaryMs = binaryOps.reduce((sum, op) => sum + op.ms, 0);
  await say('popcount ceiling');
  const popcountPeak = await popcountThroughput(options.kernels);
  return {
    model: name,
    inputSize,
    classes,
    runs,
    backend: describeBackend(),
    engine: net.backend,
    engineMs,
    emulatedMs,
    realMs,
    ...(ort && {
      onnx: {
        runtime: describeOnnxRuntime(ort),
        realMs: onnxRealMs as number,
        emulatedMs: onnxEmulatedMs as number,
      },
    }),
    ops,
    binaryMacs,
    binaryOpsPerSecond: binaryMacs / (binaryMs / 1000),
    popcountPeak,
  };
}
