/** `bireal export` and `bireal infer`: the compact deploy file and the packed engine. */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { costSummary } from '../analysis/summary.js';
import { loadEvalImage } from '../data/decode.js';
import { classLabels, imageStats } from '../data/open.js';
import { exportModel } from '../engine/export.js';
import { PackedNet } from '../engine/runtime.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { modelInputShape } from '../train/evaluate.js';
import { checkpointArgument } from './eval.js';
import { UsageError, positiveInt } from './usage.js';

/** Usage of `bireal export`. */
export const exportUsage = `export (--run DIR | --checkpoint PATH) --out FILE
      writes the trained 1-bit model as a compact deploy file for \`bireal infer\` and the site:
      1-bit weights packed 8 per byte, BatchNorm folded, real layers in float32`;

/** Usage of `bireal infer`. */
export const inferUsage = `infer --model FILE [--top 5] [--json] IMAGE...
      classifies JPEG/PNG images with the packed 1-bit engine (WebAssembly, one thread):
      the top classes with their probabilities`;

/** Runs `bireal export`. */
export async function runExport(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { run: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  if (values.out === undefined) throw new UsageError('export needs --out FILE');
  const path = await checkpointArgument('export', values);
  await initBackend({ log: false });
  const { model, optimizerWeights, recipe, classes, state } = await loadCheckpoint(path);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  try {
    const stage = recipe.stages[state.stage];
    const [size, , channels] = modelInputShape(model);
    const stats = imageStats(recipe.dataset.train);
    const last = state.stages.at(-1);
    const bytes = exportModel(model, {
      model: stage?.model.name ?? model.name,
      modelOptions: stage?.model.options ?? {},
      preprocessing: {
        size,
        channels: channels as 1 | 3,
        mean: [...stats.mean],
        std: [...stats.std],
        resizeRatio: stats.resizeRatio,
      },
      labels: classLabels(recipe.dataset.train, classes),
      source: {
        checkpoint: basename(path),
        recipe: recipe.name,
        dataset: recipe.dataset.eval,
        epochs: state.stages.map((s) => `${s.name}: ${s.epochs}`).join(', '),
        eval: last?.eval ?? null,
      },
    });
    await writeFile(values.out, bytes);
    const float = costSummary(model).params * 4;
    const versus =
      bytes.length < 0.9 * float
        ? `float32 weights would take ${(float / 1e6).toFixed(2)} MB, ${(float / bytes.length).toFixed(1)}x more`
        : 'a real-valued model: float32 weights';
    console.log(
      `${values.out}: ${(bytes.length / 1e6).toFixed(2)} MB (${stage?.model.name}, ${size}x${size}, ` +
        `${classes.length} classes; ${versus})`,
    );
  } finally {
    model.dispose();
  }
}

/** Runs `bireal infer`. */
export async function runInfer(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { model: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.model === undefined) throw new UsageError('infer needs --model FILE');
  if (positionals.length === 0) throw new UsageError('infer needs at least one IMAGE');
  const top = positiveInt('top', values.top, 5);
  let bytes: Buffer;
  try {
    bytes = await readFile(values.model);
  } catch {
    throw new UsageError(`no such model file: ${values.model}`);
  }
  const net = await PackedNet.load(bytes, undefined, values.model);
  const results = [];
  for (const path of positionals) {
    const input = await loadEvalImage(path, net.header.preprocessing);
    const start = performance.now();
    const logits = net.run(input);
    const ms = performance.now() - start;
    results.push({ image: path, ms, top: net.top(logits, top) });
  }
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  for (const { image, ms, top: predictions } of results) {
    console.log(`${image} (${ms.toFixed(1)} ms)`);
    for (const p of predictions) {
      console.log(`  ${(100 * p.probability).toFixed(1).padStart(5)}%  ${p.label}`);
    }
  }
}
