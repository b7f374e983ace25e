/**
 * The engine's speed against float arithmetic, measured the same way in Node and in browsers:
 * ms per image (batch 1) of (a) the packed engine, (b) the same 1-bit model float-emulated on
 * the current tfjs backend, (c) the real ResNet of the same depth on that backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describeBackend } from '../backend/index.js';
import { createModel, type ModelName } from '../models/index.js';
import { exportModel } from './export.js';
import { PackedNet, popcountThroughput, type KernelSource, type OpProfile } from './runtime.js';

/** Options of {@link measureSpeed}. */
export interface SpeedOptions {
  /** The 1-bit model; default 'bireal18' (compared with 'resnet18'). */
  model?: 'bireal18' | 'bireal34';
  /** Input size; default 224. */
  inputSize?: number;
  /** Classes; default 1000. */
  classes?: number;
  /** Timed rounds, each running (a), (b) and (c) once (after warm-up); default 10. */
  runs?: number;
  /** Where the engine's wasm comes from (browsers); Node reads it beside the library. */
  kernels?: KernelSource;
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
  engineMs: number;
  emulatedMs: number;
  realMs: number;
  /** The engine's steps, each the fastest of the runs. */
  ops: OpProfile[];
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

/**
 * Measures (a), (b) and (c) on random weights (timing does not depend on their values); the
 * tfjs backend must be initialised. Takes a few seconds at 224 px.
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
  const bytes = exportModel(binary, {
    model: name,
    modelOptions: {},
    preprocessing: { size: inputSize, channels: 3, mean: [0], std: [1], resizeRatio: 1 },
    labels: [],
    source: { weights: 'random (speed only)' },
  });
  const net = await PackedNet.load(bytes, options.kernels);
  const realModel = createModel(real, { inputSize, classes, seed: 1 });
  const contenders = [
    { run: () => net.run(pixels), warmup: 10, ms: [] as number[] }, // wasm tiers up meanwhile
    { run: tfjsPredict(binary, image), warmup: 2, ms: [] as number[] },
    { run: tfjsPredict(realModel, image), warmup: 2, ms: [] as number[] },
  ];
  await say('warming up');
  for (const { run, warmup } of contenders) for (let i = 0; i < warmup; i++) run();
  // Round-robin, so that a slower spell of the machine slows (a), (b) and (c) alike.
  const profiles: OpProfile[][] = [];
  for (let round = 1; round <= runs; round++) {
    await say(`round ${round} of ${runs}: (a), (b), (c)`);
    for (const { run, ms } of contenders) {
      await pause();
      const start = performance.now();
      run();
      ms.push(performance.now() - start);
    }
    profiles.push(net.profile(pixels).ops);
  }
  binary.dispose();
  realModel.dispose();
  image.dispose();
  const [engineMs, emulatedMs, realMs] = contenders.map(({ ms }) => median(ms)) as [
    number,
    number,
    number,
  ];
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
    engineMs,
    emulatedMs,
    realMs,
    ops,
    binaryMacs,
    binaryOpsPerSecond: binaryMacs / (binaryMs / 1000),
    popcountPeak,
  };
}
