/**
 * The packed 1-bit engine (src/engine) against float arithmetic, batch 1, one thread:
 * ms/image of (a) the engine, (b) the same Bi-Real-18 float-emulated on tfjs wasm, (c) real
 * ResNet-18 on tfjs wasm, (d) ResNet-18 and (e) the float-emulated Bi-Real-18 exported to ONNX
 * on ONNX Runtime (onnxruntime-node's CPU provider; onnxruntime-web's wasm in the browser), in
 * Node and in headless Chromium (the site's deploy page, which must be built:
 * `npm run site:build`); the engine's per-step times; binary ops/s against the popcount
 * ceiling. With --checkpoint and --model: how often the engine and tfjs agree on real photos
 * (the checkpoint's eval split).
 *
 *   npm run bench -- engine [--runs 10] [--no-browser] [--checkpoint CKPT --model FILE.bireal]
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import ort from 'onnxruntime-node';
import { initBackend } from '../src/backend/index.js';
import { loadNative } from '../src/backend/native.js';
import { openDataset } from '../src/data/index.js';
import {
  PackedNet,
  PackedNetPool,
  exportModel,
  measureSpeed,
  nativeIsas,
  type SpeedReport,
} from '../src/engine/index.js';
import { createModel } from '../src/models/index.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { launchChromium, measureEngineSpeed } from '../site/build/browser.js';
import { serveSite } from '../site/build/server.js';
import { SITE_DIR } from '../site/build/site.js';

/** The goals, against ONNX Runtime's ResNet-18 (d): what users would deploy instead. */
const GOAL_SPEEDUP_ONNX = 5;
const GOAL_MS_NODE = 4;
/** The first goals, against tfjs (history). */
const FIRST_GOAL_MS = 20;
const FIRST_GOAL_SPEEDUP = 8;

/** Prints a report; `goalMs` is the time goal of (a) where there is one (Node). */
function printReport(where: string, r: SpeedReport, goalMs?: number): void {
  const speedup = (ms: number) => `${(ms / r.engineMs).toFixed(1)}x`;
  const met = (ok: boolean) => (ok ? 'met' : 'not met');
  const row = (label: string, ms: number) =>
    console.log(
      `  ${label.padEnd(44)}${ms.toFixed(1).padStart(7)} ms   (a) is ${speedup(ms)} faster`,
    );
  console.log(
    `\n${where}: ${r.model}, ${r.inputSize}x${r.inputSize}, ${r.classes} classes, batch 1, ` +
      `median of ${r.runs} runs; tfjs ${r.backend}`,
  );
  console.log(
    `  ${`(a) packed engine (${r.engine}, 1 thread)`.padEnd(44)}${r.engineMs.toFixed(1).padStart(7)} ms`,
  );
  row(`(b) ${r.model} float-emulated on tfjs`, r.emulatedMs);
  row('(c) real ResNet on tfjs', r.realMs);
  if (r.onnx === undefined) {
    console.log('  (d), (e): no ONNX Runtime in this measurement');
  } else {
    row('(d) real ResNet on ONNX Runtime', r.onnx.realMs);
    row(`(e) ${r.model} float-emulated on ONNX Runtime`, r.onnx.emulatedMs);
    console.log(`  ONNX Runtime: ${r.onnx.runtime}`);
    const goals = [
      `(a) >= ${GOAL_SPEEDUP_ONNX}x faster than (d): ${met(r.onnx.realMs / r.engineMs >= GOAL_SPEEDUP_ONNX)}`,
      ...(goalMs === undefined ? [] : [`(a) <= ${goalMs} ms: ${met(r.engineMs <= goalMs)}`]),
    ];
    console.log(`  GOALS: ${goals.join('; ')}`);
  }
  console.log(
    `  first goals (history): (a) >= ${FIRST_GOAL_SPEEDUP}x faster than (c): ` +
      `${met(r.realMs / r.engineMs >= FIRST_GOAL_SPEEDUP)}; (a) < ${FIRST_GOAL_MS} ms: ${met(r.engineMs < FIRST_GOAL_MS)}`,
  );
  // The wasm popcount loop's ceiling bounds the wasm engine only: beside the native kernels
  // it is just the number they escape.
  const ceiling =
    r.engine === 'wasm'
      ? `${((100 * r.binaryOpsPerSecond) / r.popcountPeak).toFixed(0)}% of`
      : 'against';
  console.log(
    `  1-bit convs: ${(r.binaryMacs / 1e9).toFixed(2)}e9 binary MACs per image at ` +
      `${(r.binaryOpsPerSecond / 1e9).toFixed(1)} Gbop/s, ${ceiling} the wasm popcount loop's ` +
      `ceiling on this core (${(r.popcountPeak / 1e9).toFixed(1)} Gbop/s)`,
  );
}

/**
 * The instruction sets the engine ran on (bench/main.ts names the CPU): its native 1-bit
 * kernels' and oneDNN's (the float convs). Times of kernels forced below the best the CPU runs (BIREAL_ENGINE_ISA,
 * ONEDNN_MAX_CPU_ISA) show that choice of kernels on this CPU, not the speed of a CPU that has
 * no more than that instruction set.
 */
async function printEngineIsas(r: SpeedReport): Promise<void> {
  if (!r.engine.startsWith('native ')) return;
  const [isa, best] = [r.engine.slice('native '.length), (await nativeIsas())[0]];
  const forced = isa === best ? '' : ` (forced; this CPU runs ${best})`;
  const onednn = (await loadNative())?.info().isa ?? 'unknown';
  console.log(`  engine instruction sets: 1-bit convs ${isa}${forced}, oneDNN ${onednn}`);
}

/** The engine's time by kind of step, and with `each`, every step's. */
function printSteps(r: SpeedReport, each: boolean): void {
  if (each) {
    console.log('\nengine steps (fastest of the runs): name | kind | output | ms | rate');
    const stem =
      r.engine === 'wasm'
        ? "; the 7x7 stem runs by Winograd's F(4x4, 4x4) and does a quarter of its multiplies"
        : '; float layers run on oneDNN, one thread';
    console.log(`  (rates count a direct convolution's multiply-accumulates${stem})`);
  }
  const total = r.ops.reduce((sum, op) => sum + op.ms, 0);
  for (const op of each ? r.ops : []) {
    const rate = op.binaryMacs
      ? `${(op.binaryMacs / op.ms / 1e6).toFixed(1)} Gbop/s`
      : op.realMacs
        ? `${((2 * op.realMacs) / op.ms / 1e6).toFixed(1)} GFLOP/s`
        : '';
    console.log(
      `  ${op.name.padEnd(22)} ${op.op.padEnd(13)} ${op.shape.join('x').padEnd(11)} ${op.ms.toFixed(3).padStart(7)}  ${rate}`,
    );
  }
  const byKind = new Map<string, number>();
  for (const op of r.ops) byKind.set(op.op, (byKind.get(op.op) ?? 0) + op.ms);
  console.log(
    `  by kind: ${[...byKind].map(([kind, ms]) => `${kind} ${ms.toFixed(2)} ms (${((100 * ms) / total).toFixed(0)}%)`).join(', ')}`,
  );
}

/** Engine vs tfjs logits on every image of the checkpoint's eval split. */
async function agreement(checkpoint: string, file: string): Promise<void> {
  const { model, optimizerWeights, recipe } = await loadCheckpoint(checkpoint);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  const net = await PackedNet.load(await readFile(file), undefined, file);
  const [size, , channels] = net.header.inputShape;
  const split = await openDataset(recipe.dataset.eval);
  const length = net.inputSize;
  const classes = net.header.labels.length;
  const errors: number[] = [];
  let sameTop1 = 0;
  for await (const batch of split.batches(
    { batchSize: 64, imageSize: size, augment: false, seed: 0 },
    0,
  )) {
    const reference = tf.tidy(() =>
      (
        model.predict(tf.tensor4d(batch.images, [batch.n, size, size, channels])) as tf.Tensor
      ).dataSync(),
    );
    for (let i = 0; i < batch.n; i++) {
      const logits = net.run(batch.images.subarray(i * length, (i + 1) * length));
      const expected = reference.subarray(i * classes, (i + 1) * classes);
      let diff = 0;
      let scale = 0;
      for (let j = 0; j < classes; j++) {
        diff = Math.max(diff, Math.abs((logits[j] as number) - (expected[j] as number)));
        scale = Math.max(scale, Math.abs(expected[j] as number));
      }
      errors.push(diff / scale);
      const argmax = (v: ArrayLike<number>) => Array.from(v).indexOf(Math.max(...Array.from(v)));
      if (argmax(logits) === argmax(expected)) sameTop1++;
    }
  }
  await split.close();
  model.dispose();
  console.log(`\nengine vs tfjs on ${recipe.dataset.eval} (${errors.length} photos, ${file}):`);
  console.log(`  same top-1 class: ${sameTop1} of ${errors.length}`);
  for (const t of [1e-5, 1e-3, 1e-1]) {
    console.log(
      `  logits differing by more than ${t} (relative): ${errors.filter((e) => e > t).length}`,
    );
  }
}

/**
 * Images per second of the engine on a batch of `n` random 224 px images, on 1 thread and on
 * one worker thread per core (PackedNetPool): the throughput beside the one-image latency.
 */
async function throughput(n = 32): Promise<void> {
  const model = createModel('bireal18', { inputSize: 224, classes: 1000, seed: 1 });
  const bytes = exportModel(model, {
    model: 'bireal18',
    modelOptions: {},
    preprocessing: { size: 224, channels: 3, mean: [0], std: [1], resizeRatio: 1 },
    labels: Array.from({ length: 1000 }, (_, i) => String(i)),
    source: { weights: 'random (speed only)' },
  });
  model.dispose();
  const images = tf.tidy(() => tf.randomNormal([n * 224 * 224 * 3]).dataSync() as Float32Array);
  console.log(`
throughput: bireal18, 224x224, 1000 classes, batch of ${n}, best of 3`);
  for (const threads of [1, availableParallelism()]) {
    const pool = await PackedNetPool.load(bytes, threads);
    try {
      await pool.runBatch(images, n); // warm-up
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        await pool.runBatch(images, n);
        best = Math.min(best, performance.now() - start);
      }
      console.log(`  ${threads} thread(s): ${((1000 * n) / best).toFixed(0)} images/s`);
    } finally {
      await pool.close();
    }
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string' },
      'no-browser': { type: 'boolean' },
      checkpoint: { type: 'string' },
      model: { type: 'string' },
    },
  });
  const runs = Number(values.runs ?? 10);
  await initBackend();
  const node = await measureSpeed({
    runs,
    onnxRuntime: ort,
    progress: (m) => console.error(`  ${m}...`),
  });
  printReport(`Node ${process.version}`, node, GOAL_MS_NODE);
  await printEngineIsas(node);
  printSteps(node, true);
  await throughput();

  if (!values['no-browser']) {
    const server = await serveSite(join(process.cwd(), SITE_DIR));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(new URL('deploy.html', server.url).href);
      const chromium = await measureEngineSpeed(page, { runs });
      printReport(`headless Chromium ${browser.version()}`, chromium);
      printSteps(chromium, false);
    } finally {
      await browser.close();
      await server.close();
    }
  }
  if (values.checkpoint !== undefined && values.model !== undefined) {
    await agreement(values.checkpoint, values.model);
  }
}
