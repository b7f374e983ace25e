/**
 * The packed 1-bit engine (src/engine) against float arithmetic, batch 1, one thread:
 * ms/image of (a) the engine, (b) the same Bi-Real-18 float-emulated on tfjs wasm, (c) real
 * ResNet-18 on tfjs wasm, in Node and in headless Chromium (the site's deploy page, which must
 * be built: `npm run site:build`); the engine's per-step times; binary ops/s against the
 * popcount ceiling. With --checkpoint and --model: how often the engine and tfjs agree on real
 * photos (the checkpoint's eval split).
 *
 *   npm run bench -- engine [--runs 10] [--no-browser] [--checkpoint CKPT --model FILE.bireal]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { openDataset } from '../src/data/index.js';
import { PackedNet, measureSpeed, type SpeedReport } from '../src/engine/index.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { launchChromium, measureEngineSpeed } from '../site/build/browser.js';
import { serveSite } from '../site/build/server.js';
import { SITE_DIR } from '../site/build/site.js';

const GOAL_MS = 20;
const GOAL_SPEEDUP = 8;

function printReport(where: string, r: SpeedReport): void {
  const speedup = (ms: number) => `${(ms / r.engineMs).toFixed(1)}x`;
  console.log(
    `\n${where}: ${r.model}, ${r.inputSize}x${r.inputSize}, ${r.classes} classes, batch 1, ` +
      `median of ${r.runs} runs; tfjs ${r.backend}`,
  );
  console.log(`  (a) packed engine (wasm, 1 thread)     ${r.engineMs.toFixed(1).padStart(7)} ms`);
  console.log(
    `  (b) ${r.model} float-emulated on tfjs  ${r.emulatedMs.toFixed(1).padStart(7)} ms   (a) is ${speedup(r.emulatedMs)} faster`,
  );
  const met = (ok: boolean) => (ok ? 'met' : 'not met');
  console.log(
    `  (c) real ResNet on tfjs               ${r.realMs.toFixed(1).padStart(7)} ms   (a) is ${speedup(r.realMs)} faster`,
  );
  console.log(
    `  goals: (a) >= ${GOAL_SPEEDUP}x faster than (c): ${met(r.realMs / r.engineMs >= GOAL_SPEEDUP)}; ` +
      `(a) < ${GOAL_MS} ms: ${met(r.engineMs < GOAL_MS)}`,
  );
  console.log(
    `  1-bit convs: ${(r.binaryMacs / 1e9).toFixed(2)}e9 binary MACs per image at ` +
      `${(r.binaryOpsPerSecond / 1e9).toFixed(1)} Gbop/s; the popcount loop's ceiling on this core: ` +
      `${(r.popcountPeak / 1e9).toFixed(1)} Gbop/s (${((100 * r.binaryOpsPerSecond) / r.popcountPeak).toFixed(0)}%)`,
  );
}

/** The engine's time by kind of step, and with `each`, every step's. */
function printSteps(r: SpeedReport, each: boolean): void {
  if (each) {
    console.log('\nengine steps (fastest of the runs): name | kind | output | ms | rate');
    console.log(
      "  (rates count a direct convolution's multiply-accumulates; the 7x7 stem runs by " +
        "Winograd's F(4x4, 4x4) and does a quarter of its multiplies)",
    );
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
  const node = await measureSpeed({ runs, progress: (m) => console.error(`  ${m}...`) });
  printReport(`Node ${process.version}`, node);
  printSteps(node, true);

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
