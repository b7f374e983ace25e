/** `bireal eval`: evaluates a checkpoint on a dataset split. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend } from '../backend/index.js';
import { openDataset } from '../data/index.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { PackedNetPool } from '../engine/pool.js';
import { evaluate, modelInputShape, packedClassifier, type EvalResult } from '../train/evaluate.js';
import { loadRecipe } from '../train/recipe.js';
import { latestCheckpoint } from '../train/trainer.js';
import { UsageError, positiveInt } from './usage.js';

/** Usage of `bireal eval`. */
export const usage = `eval (--run DIR | --checkpoint PATH | --model FILE) [--data NAME:SPLIT] [--json] [--limit N] [--batch 64] [--threads N]
      top-1, top-5, per-class accuracy and confusion matrix of a trained model (BatchNorm in
      inference mode); --run takes the run's latest checkpoint, --model a deploy file (run on
      the packed 1-bit engine, on --threads worker threads, default one per core), --data
      defaults to the recipe's eval split, --limit evaluates the first N examples only`;

function percent(fraction: number | null): string {
  return fraction === null ? '-' : `${(100 * fraction).toFixed(1)}%`;
}

function report(result: EvalResult, title: string): string {
  const lines = [
    title,
    `n ${result.n}  top-1 ${percent(result.top1)}  top-5 ${percent(result.top5)}`,
  ];
  lines.push('per class (n, top-1):');
  for (const c of result.perClass) {
    lines.push(
      `  ${c.label.padEnd(24)} ${String(c.n).padStart(6)} ${percent(c.accuracy).padStart(7)}`,
    );
  }
  if (result.confusion.length <= 20) {
    lines.push('confusion (rows: label, columns: prediction, in class order):');
    for (const row of result.confusion) lines.push(row.map((v) => String(v).padStart(5)).join(''));
  } else {
    lines.push('confusion matrix: see --json');
  }
  return lines.join('\n');
}

/** The checkpoint named by `--checkpoint PATH`, or the latest one of `--run DIR`. */
export async function checkpointArgument(
  command: string,
  values: { run?: string | undefined; checkpoint?: string | undefined },
): Promise<string> {
  if ((values.run === undefined) === (values.checkpoint === undefined)) {
    throw new UsageError(`${command} needs one of --run DIR or --checkpoint PATH`);
  }
  let path = values.checkpoint;
  if (values.run !== undefined) {
    const config = join(values.run, 'config.json');
    if (!existsSync(config))
      throw new UsageError(`${values.run} is not a run folder (no config.json)`);
    path = latestCheckpoint(values.run, await loadRecipe(config));
    if (path === undefined) throw new Error(`${values.run} has no checkpoint yet`);
  }
  if (path === undefined || !existsSync(path)) throw new UsageError(`no such checkpoint: ${path}`);
  return path;
}

/** Prints an evaluation as JSON (with `about`) or as a report under `title`. */
function print(result: EvalResult, about: Record<string, unknown>, title: string, json = false) {
  console.log(json ? JSON.stringify({ ...result, ...about }, null, 2) : report(result, title));
}

/** `bireal eval --model FILE`: the deploy file on the packed engine. */
async function evalDeployFile(
  file: string,
  spec: string | undefined,
  options: {
    batchSize: number;
    limit: number | undefined;
    json: boolean | undefined;
    threads: number;
  },
): Promise<void> {
  if (!existsSync(file)) throw new UsageError(`no such model file: ${file}`);
  const pool = await PackedNetPool.load(await readFile(file), options.threads, file);
  try {
    const { header } = pool;
    const dataset = spec ?? header.source['dataset'];
    if (typeof dataset !== 'string') throw new UsageError(`${file} names no dataset: pass --data`);
    // The classes the model was trained on, in its order (all of the dataset's, or a subset).
    const split = await openDataset(dataset, { classes: header.labels });
    try {
      const result = await evaluate(packedClassifier(pool), split, options);
      const [size] = header.inputShape;
      const engine = `packed 1-bit engine (${pool.backend}, ${pool.size} worker threads)`;
      const about = { model: file, resolution: size, engine };
      print(result, about, `${file} on ${dataset} at ${size}x${size}, ${engine}`, options.json);
    } finally {
      await split.close();
    }
  } finally {
    await pool.close();
  }
}

/** Runs `bireal eval` with its arguments (after the command name). */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      model: { type: 'string' },
      data: { type: 'string' },
      json: { type: 'boolean' },
      limit: { type: 'string' },
      batch: { type: 'string' },
      threads: { type: 'string' },
    },
    strict: true,
  });
  const limit = values.limit === undefined ? undefined : positiveInt('limit', values.limit, 1);
  const batchSize = positiveInt('batch', values.batch, 64);
  if (values.model !== undefined) {
    const threads = positiveInt('threads', values.threads, availableParallelism());
    const json = values.json;
    await evalDeployFile(values.model, values.data, { batchSize, limit, json, threads });
    return;
  }
  const path = await checkpointArgument('eval', values);
  await initBackend();
  const { model, optimizerWeights, recipe, classes, state } = await loadCheckpoint(path);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  const spec = values.data ?? recipe.dataset.eval;
  const split = await openDataset(spec, { classes: recipe.dataset.classes });
  try {
    if (JSON.stringify(split.classes) !== JSON.stringify(classes)) {
      throw new Error(
        `${spec} does not have the ${classes.length} classes the model was trained on`,
      );
    }
    const result = await evaluate(model, split, {
      batchSize,
      limit,
      workers: recipe.dataset.workers,
    });
    const stage = recipe.stages[state.stage];
    const [size] = modelInputShape(model);
    const backend = describeBackend();
    const about = {
      checkpoint: path,
      stage: stage?.name,
      epoch: state.epoch,
      model: stage?.model.name,
      modelOptions: stage?.model.options,
      resolution: size,
      backend,
    };
    const title =
      `${about.model} (stage '${about.stage}', epoch ${state.epoch}, ${path}) on ${spec} at ` +
      `${size}x${size}, ${backend}`;
    print(result, about, title, values.json);
  } finally {
    model.dispose();
    await split.close();
  }
}
