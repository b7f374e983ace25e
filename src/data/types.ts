/**
 * The contract between datasets and the trainer: a dataset split yields batches of decoded,
 * augmented, normalised images (NHWC float32) with integer labels, in an order fixed by
 * (seed, epoch), resumable from any batch index.
 */

/** One batch, ready to become tensors. */
export interface Batch {
  /** NHWC float32, normalised (e.g. ImageNet mean/std), length n * height * width * channels. */
  images: Float32Array;
  /** Class indices, length n. */
  labels: Int32Array;
  /** Number of examples in the batch (the last batch may be smaller unless dropLast). */
  n: number;
  height: number;
  width: number;
  channels: number;
  /** Index of this batch within its epoch. */
  index: number;
}

/** How batches are made from a split. */
export interface BatchOptions {
  batchSize: number;
  /** Output side in pixels (square). */
  imageSize: number;
  /** Training pipeline (random crop, flip, lighting; shuffled) or evaluation (centre crop; in order). */
  augment: boolean;
  /** Seed of the shuffle and the augmentation; together with the epoch it fixes every batch. */
  seed: number;
  /** Drop the last incomplete batch (training); default false. */
  dropLast?: boolean;
  /** Decode/augment worker threads; default: available cores, at most 2. 0 = in this thread. */
  workers?: number;
}

/** A labelled split of a dataset, e.g. `imagenette:train`. */
export interface DatasetSplit {
  /** `NAME:SPLIT` as given to `openDataset`. */
  readonly id: string;
  /** Class names in label order. */
  readonly classes: readonly string[];
  /** Number of examples. */
  readonly size: number;
  /** Number of batches per epoch for these options. */
  numBatches(options: BatchOptions): number;
  /**
   * Batches of one epoch, starting at batch `startBatch` (for resume): the same (options, epoch)
   * always give the same batches, whatever the worker count.
   */
  batches(options: BatchOptions, epoch: number, startBatch?: number): AsyncIterable<Batch>;
  /** Releases workers and file handles. */
  close(): Promise<void>;
}
