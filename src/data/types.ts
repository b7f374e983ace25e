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
  /** Number of examples in the batch (smaller for the last batch unless dropLast, or by skipped bad files). */
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
  /** Seed (an integer) of the shuffle and the augmentation; with the epoch it fixes every batch. */
  seed: number;
  /** Drop the last incomplete batch (training); default false. */
  dropLast?: boolean;
  /**
   * Decode/augment worker threads; default: the available cores less the trainer's one, 1 or 2.
   * 0 = in this thread (sharp still decodes on libuv's threads, but stalls while the thread computes).
   */
  workers?: number;
  /** Batches prepared ahead of the consumer; default 2 per worker, at least 2. */
  prefetch?: number;
  /** Output channels: 3 (RGB) or 1 (grey); default the split's own `channels`. */
  channels?: 1 | 3;
  /**
   * Training crop: `'resized'` (RandomResizedCrop, the ImageNet recipe; default) or `'padded'`
   * (zero-pad 4 pixels and take a random imageSize crop, the CIFAR recipe).
   */
  crop?: 'resized' | 'padded';
  /** RandomResizedCrop area fraction range; default [0.08, 1] (aspect ratio range: 3/4 to 4/3). */
  scale?: readonly [number, number];
  /** Std of the AlexNet PCA lighting noise when augmenting 3-channel output; default 0.1, 0 = off. */
  lighting?: number;
  /**
   * Evaluation: the shorter side is resized to imageSize * resizeRatio, then centre-cropped;
   * default the split's `resizeRatio` (256/224 for photos, 1 for CIFAR-10 and MNIST).
   */
  resizeRatio?: number;
}

/** A file that could not be used, and why. */
export interface BadFile {
  path: string;
  reason: string;
}

/** A labelled split of a dataset, e.g. `imagenette:train`. */
export interface DatasetSplit {
  /** `NAME:SPLIT` as given to `openDataset`. */
  readonly id: string;
  /** Class ids in label order (folder names, e.g. ImageNet wnids). */
  readonly classes: readonly string[];
  /** Human-readable class names in label order (the class ids where none are known). */
  readonly labels: readonly string[];
  /** Number of examples. */
  readonly size: number;
  /** Channels of the stored images: 3 (RGB) or 1 (MNIST). */
  readonly channels: 1 | 3;
  /** Per-channel mean and std (of pixel values in [0, 1]) used for normalisation. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Default evaluation resize ratio (see {@link BatchOptions.resizeRatio}). */
  readonly resizeRatio: number;
  /** Files and folders skipped so far with `skipBad` (empty class folders, undecodable images). */
  readonly skipped: readonly BadFile[];
  /**
   * Number of batches per epoch for these options.
   * @param options - batch size, whether to drop the last partial batch.
   */
  numBatches(options: BatchOptions): number;
  /**
   * Batches of one epoch, starting at batch `startBatch` (for resume): the same (options, epoch)
   * always give the same batches, whatever the worker count.
   * @param options - batch size, shuffling, augmentation, workers.
   * @param epoch - the epoch, from 0 (seeds the order).
   * @param startBatch - the first batch to give.
   */
  batches(options: BatchOptions, epoch: number, startBatch?: number): AsyncIterable<Batch>;
  /** Releases workers and file handles. */
  close(): Promise<void>;
}
