/** The {@link DatasetSplit} behind every source: order, batching, prefetching and workers. */
import { availableParallelism } from 'node:os';
import { DataError } from './errors.js';
import {
  runTask,
  type SourceData,
  type Task,
  type TaskParams,
  type TaskResult,
} from './pipeline.js';
import { WorkerPool } from './pool.js';
import { permutation } from './random.js';
import type { BadFile, Batch, BatchOptions, DatasetSplit } from './types.js';

/** Everything a split is made of. */
export interface SplitInit {
  id: string;
  classes: readonly string[];
  labels: readonly string[];
  channels: 1 | 3;
  mean: readonly number[];
  std: readonly number[];
  resizeRatio: number;
  source: SourceData;
  /** The file of each example (file sources). */
  paths?: readonly string[];
  /** The class index of each example of the source. */
  targets: Int32Array;
  /**
   * The classes to keep, by id or label, in this order (default all): the split then holds only
   * their examples, labelled by their position in this list.
   */
  keep?: readonly string[];
  /** The examples of the source this split holds (by {@link keepClasses}); default all. */
  examples?: Int32Array;
  /** Problems already found (and skipped) when the split was opened. */
  skipped?: BadFile[];
  skipBad: boolean;
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

class Split implements DatasetSplit {
  readonly id: string;
  readonly classes: readonly string[];
  readonly labels: readonly string[];
  readonly channels: 1 | 3;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly resizeRatio: number;
  readonly skipped: BadFile[];
  private readonly init: SplitInit;
  private pool: { size: number; pool: WorkerPool } | null = null;

  constructor(init: SplitInit) {
    this.init = init;
    ({ id: this.id, classes: this.classes, labels: this.labels, channels: this.channels } = init);
    ({ mean: this.mean, std: this.std, resizeRatio: this.resizeRatio } = init);
    this.skipped = init.skipped ?? [];
  }

  get size(): number {
    return this.init.examples?.length ?? this.init.targets.length;
  }

  numBatches(options: BatchOptions): number {
    positiveInteger('batchSize', options.batchSize);
    const whole = this.size / options.batchSize;
    return options.dropLast ? Math.floor(whole) : Math.ceil(whole);
  }

  async *batches(options: BatchOptions, epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    const count = this.numBatches(options);
    if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > count) {
      throw new RangeError(`startBatch must be an integer in [0, ${count}], got ${startBatch}`);
    }
    const params = this.params(options, epoch);
    const order = options.augment ? permutation(this.size, options.seed, epoch) : null;
    const workers = options.workers ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RangeError(`workers must be a non-negative integer, got ${workers}`);
    }
    const prefetch = options.prefetch ?? Math.max(2, 2 * workers);
    const run = this.runner(workers);
    const queue: Promise<TaskResult & { indices: number[] }>[] = [];
    let next = startBatch;
    const fill = () => {
      for (; next < count && queue.length < prefetch; next++) {
        const start = next * options.batchSize;
        const end = Math.min(start + options.batchSize, this.size);
        // The source's indices of the examples at these positions.
        const indices = Array.from({ length: end - start }, (_, k) => {
          const position = order ? (order[start + k] as number) : start + k;
          return this.init.examples?.[position] ?? position;
        });
        const task: Task = { params, indices };
        if (this.init.paths) task.paths = indices.map((i) => this.init.paths?.[i] as string);
        const result = run(task).then((r) => ({ ...r, indices }));
        result.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
        queue.push(result);
      }
    };
    fill();
    for (let index = startBatch; queue.length > 0; index++) {
      const { images, kept, bad, indices } = await (queue.shift() as (typeof queue)[number]);
      fill();
      for (const file of bad) {
        if (!this.skipped.some((known) => known.path === file.path)) this.skipped.push(file);
      }
      const labels = Int32Array.from(
        kept,
        (k) => this.init.targets[indices[k] as number] as number,
      );
      const { imageSize: size, channels } = params;
      yield { images, labels, n: kept.length, height: size, width: size, channels, index };
    }
  }

  async close(): Promise<void> {
    await this.pool?.pool.close();
    this.pool = null;
  }

  private params(options: BatchOptions, epoch: number): TaskParams {
    positiveInteger('imageSize', options.imageSize);
    if (!Number.isInteger(options.seed))
      throw new RangeError(`seed must be an integer, got ${options.seed}`);
    const channels = options.channels ?? this.channels;
    // Mean/std follow the output channels: repeated for grey → RGB, averaged for RGB → grey.
    const stats = (values: readonly number[]) =>
      channels === values.length
        ? values
        : channels === 3
          ? [values[0]!, values[0]!, values[0]!]
          : [values.reduce((a, b) => a + b) / values.length];
    return {
      imageSize: options.imageSize,
      augment: options.augment,
      crop: options.crop ?? 'resized',
      scale: options.scale ?? [0.08, 1],
      lighting: options.lighting ?? 0.1,
      resizeRatio: options.resizeRatio ?? this.resizeRatio,
      channels,
      mean: stats(this.mean),
      std: stats(this.std),
      seed: options.seed,
      epoch,
      skipBad: this.init.skipBad,
    };
  }

  /** The function that makes a batch: in this thread, or on a (reused) pool of `workers`. */
  private runner(workers: number): (task: Task) => Promise<TaskResult> {
    if (workers === 0) return (task) => runTask(this.init.source, task);
    if (this.pool?.size !== workers) {
      void this.pool?.pool.close();
      this.pool = { size: workers, pool: new WorkerPool(workers, this.init.source) };
    }
    const pool = this.pool.pool;
    return (task) => pool.run(task);
  }
}

/**
 * `init` reduced to the examples of the classes `keep` names (class ids or labels), relabelled
 * 0, 1, ... in that order; an unknown or repeated class is an error naming the valid ones.
 */
export function keepClasses(init: SplitInit, keep: readonly string[]): SplitInit {
  const chosen = keep.map((name) => {
    const byId = init.classes.indexOf(name);
    const index = byId >= 0 ? byId : init.labels.indexOf(name);
    if (index < 0) {
      const valid = init.classes.map((c, i) =>
        c === init.labels[i] ? c : `${c} (${init.labels[i]})`,
      );
      throw new DataError(`${init.id} has no class '${name}'; its classes: ${valid.join(', ')}`);
    }
    return index;
  });
  const repeated = chosen.find((c, i) => chosen.indexOf(c) !== i);
  if (repeated !== undefined) {
    throw new DataError(`${init.id}: class '${init.classes[repeated]}' is named twice`);
  }
  const label = new Map(chosen.map((c, position) => [c, position]));
  const targets = init.targets.map((t) => label.get(t) ?? -1);
  const examples = Int32Array.from(targets.keys()).filter((i) => (targets[i] as number) >= 0);
  return {
    ...init,
    classes: chosen.map((c) => init.classes[c] as string),
    labels: chosen.map((c) => init.labels[c] as string),
    targets,
    examples,
    keep: undefined,
  };
}

/** Makes a {@link DatasetSplit} from its parts (only the classes of `keep`, where given). */
export function createSplit(init: SplitInit): DatasetSplit {
  const split = new Split(init.keep === undefined ? init : keepClasses(init, init.keep));
  if (split.size === 0 && !init.skipBad) throw new DataError(`${init.id} has no examples`);
  return split;
}
