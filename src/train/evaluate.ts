/**
 * Evaluation of a classifier on a dataset split: top-1, top-5, per-class accuracy and the
 * confusion matrix, with BatchNorm in inference mode (moving statistics).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Batch, BatchOptions, DatasetSplit } from '../data/types.js';
import type { DeployHeader } from '../engine/format.js';
import { killPoint } from './kill-point.js';

/** What {@link evaluate} needs of a classifier, whatever runs it. */
export interface Classifier {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  classes: number;
  /**
   * The k best classes of each image of the batch, best first: n * k indices.
   * @param batch - the images.
   * @param k - how many classes per image.
   */
  topK(batch: Batch, k: number): Int32Array | Promise<Int32Array>;
}

/** A tfjs-layers model as a {@link Classifier} (one predict call per batch). */
function layersClassifier(model: tfl.LayersModel): Classifier {
  return {
    inputShape: modelInputShape(model),
    classes: model.outputs[0]?.shape.at(-1) as number,
    topK: (batch, k) => {
      const top = tf.tidy(
        () => tf.topk(model.predict(batchImages(batch)) as tf.Tensor2D, k).indices,
      );
      const indices = top.dataSync() as Int32Array;
      top.dispose();
      return indices;
    },
  };
}

/**
 * The packed engine, on one thread (`PackedNet`) or several (`PackedNetPool`): what
 * {@link packedClassifier} needs of it.
 */
export interface BatchEngine {
  header: DeployHeader;
  /**
   * The logits of n images (HWC float32, back to back): n * classes values.
   * @param images - the prepared images.
   * @param n - how many.
   */
  runBatch(images: Float32Array, n: number): Float32Array | Promise<Float32Array>;
}

/**
 * The packed 1-bit engine as a {@link Classifier}.
 * @param engine - a `PackedNet` or `PackedNetPool`.
 */
export function packedClassifier(engine: BatchEngine): Classifier {
  const classes = engine.header.labels.length;
  return {
    inputShape: engine.header.inputShape,
    classes,
    topK: async (batch, k) => {
      const logits = await engine.runBatch(batch.images, batch.n);
      const indices = new Int32Array(batch.n * k);
      for (let i = 0; i < batch.n; i++) {
        const row = logits.subarray(i * classes, (i + 1) * classes);
        const order = Array.from(row.keys()).sort(
          (a, b) => (row[b] as number) - (row[a] as number),
        );
        indices.set(order.slice(0, k), i * k);
      }
      return indices;
    },
  };
}

/** Accuracy on one class. */
export interface ClassAccuracy {
  /** Class id (e.g. a wnid). */
  class: string;
  /** Human-readable name. */
  label: string;
  /** Examples of this class evaluated. */
  n: number;
  /** Fraction of them predicted right (top-1); null when n is 0. */
  accuracy: number | null;
}

/** What {@link evaluate} measured. */
export interface EvalResult {
  /** The split, `NAME:SPLIT`. */
  dataset: string;
  /** Examples evaluated. */
  n: number;
  /** Fraction whose top prediction is the label. */
  top1: number;
  /** Fraction whose label is among the 5 top predictions (all of them with <= 5 classes). */
  top5: number;
  perClass: ClassAccuracy[];
  /** confusion[label][prediction]: counts, summing to n. */
  confusion: number[][];
}

/** Options of {@link evaluate}. */
export interface EvalOptions {
  /** Default 64. */
  batchSize?: number;
  /** Evaluate at most this many examples (the first ones, in the split's fixed order). */
  limit?: number;
  /** Decode worker threads (see `BatchOptions.workers`). */
  workers?: number;
}

/** The [height, width, channels] a model takes. */
export function modelInputShape(model: tfl.LayersModel): [number, number, number] {
  const [, h, w, c] = model.inputs[0]?.shape ?? [];
  if (typeof h !== 'number' || typeof w !== 'number' || typeof c !== 'number') {
    throw new Error(`model ${model.name} has no fixed NHWC input shape`);
  }
  return [h, w, c];
}

/** Throws a clear error when a batch does not fit the model's input. */
export function checkBatchShape(
  batch: Batch,
  [h, w, c]: [number, number, number],
  dataset: string,
): void {
  if (batch.height !== h || batch.width !== w || batch.channels !== c) {
    throw new Error(
      `${dataset} gives ${batch.height}x${batch.width}x${batch.channels} images but the model ` +
        `takes ${h}x${w}x${c}`,
    );
  }
}

/** The images of a batch as an NHWC tensor. */
export function batchImages(batch: Batch): tf.Tensor4D {
  return tf.tensor4d(batch.images, [batch.n, batch.height, batch.width, batch.channels]);
}

/**
 * Evaluates `model` (a tfjs model in inference mode, or any {@link Classifier}) on `split`, in
 * order and without augmentation.
 * @param model - what classifies.
 * @param split - the held-out split.
 * @param options - batch size, how many images, progress output.
 */
export async function evaluate(
  model: tfl.LayersModel | Classifier,
  split: DatasetSplit,
  options: EvalOptions = {},
): Promise<EvalResult> {
  const classifier = model instanceof tfl.LayersModel ? layersClassifier(model) : model;
  const classes = split.classes.length;
  const outputs = classifier.classes;
  if (outputs !== classes) {
    throw new Error(`${split.id} has ${classes} classes but the model predicts ${outputs}`);
  }
  const limit = options.limit ?? Infinity;
  const k = Math.min(5, classes);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let n = 0;
  let top5 = 0;
  const [size, , channels] = classifier.inputShape;
  if (channels !== 1 && channels !== 3)
    throw new Error(`model takes ${channels} channels, not 1 or 3`);
  const batchOptions: BatchOptions = {
    batchSize: options.batchSize ?? 64,
    imageSize: size,
    augment: false,
    seed: 0,
    workers: options.workers,
    channels, // grey and RGB datasets are converted to what the model takes
  };
  for await (const batch of split.batches(batchOptions, 0)) {
    checkBatchShape(batch, classifier.inputShape, split.id);
    const take = Math.min(batch.n, limit - n);
    const indices = await classifier.topK(batch, k);
    for (let i = 0; i < take; i++) {
      const label = batch.labels[i] as number;
      const predictions = indices.subarray(i * k, (i + 1) * k);
      const row = confusion[label] as number[];
      const predicted = predictions[0] as number;
      row[predicted] = (row[predicted] as number) + 1;
      if (predictions.includes(label)) top5++;
    }
    n += take;
    if (n >= limit) break;
    killPoint('eval');
  }
  if (n === 0) throw new Error(`${split.id}: no examples to evaluate`);
  const correct = confusion.reduce((sum, row, label) => sum + (row[label] as number), 0);
  const perClass = confusion.map((row, label) => {
    const count = row.reduce((a, b) => a + b, 0);
    return {
      class: split.classes[label] as string,
      label: split.labels[label] as string,
      n: count,
      accuracy: count === 0 ? null : (row[label] as number) / count,
    };
  });
  return { dataset: split.id, n, top1: correct / n, top5: top5 / n, perClass, confusion };
}
