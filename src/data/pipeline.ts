/**
 * One batch of decoded, augmented, normalised samples: the unit of work of the loader, run in a
 * worker thread or in the caller's thread with the same result.
 */
import { planSample, resample, writeSample, type AugmentParams } from './augment.js';
import { loadImageFile } from './decode.js';
import { messageOf } from './errors.js';
import { sampleRandom } from './random.js';
import type { BadFile } from './types.js';

/** Where a split's pixels come from: image files, or uint8 HWC images held in (shared) memory. */
export type SourceData =
  | { kind: 'files' }
  | { kind: 'memory'; pixels: Uint8Array; width: number; height: number; channels: 1 | 3 };

/** The settings of a batch: augmentation plus what fixes its randomness. */
export interface TaskParams extends AugmentParams {
  seed: number;
  epoch: number;
  skipBad: boolean;
}

/** One batch to make: dataset indices (they key each sample's PRNG) and, for files, their paths. */
export interface Task {
  params: TaskParams;
  indices: number[];
  paths?: string[];
}

/** The batch's images (samples that were kept, in order), their positions in the task, and the bad files. */
export interface TaskResult {
  images: Float32Array;
  kept: number[];
  bad: BadFile[];
}

/** Makes one batch. A bad file throws unless `skipBad`, where it is left out and reported. */
export async function runTask(source: SourceData, task: Task): Promise<TaskResult> {
  const { params, indices } = task;
  const sampleLength = params.imageSize * params.imageSize * params.channels;
  const images = new Float32Array(indices.length * sampleLength);
  if (source.kind === 'memory') {
    const { pixels, width, height, channels } = source;
    const length = width * height * channels;
    indices.forEach((index, k) => {
      const plan = planSample(
        width,
        height,
        params,
        sampleRandom(params.seed, params.epoch, index),
      );
      const image = pixels.subarray(index * length, (index + 1) * length);
      const resized = resample(image, width, height, channels, plan.crop, ...plan.resize);
      writeSample(resized, channels, plan, params, images, k * sampleLength);
    });
    return { images, kept: indices.map((_, k) => k), bad: [] };
  }
  const paths = task.paths ?? [];
  const results = await Promise.allSettled(
    indices.map(async (index, k) => {
      const random = sampleRandom(params.seed, params.epoch, index);
      const { image, plan } = await loadImageFile(
        paths[k] as string,
        (width, height) => planSample(width, height, params, random),
        params.channels,
      );
      writeSample(image, params.channels, plan, params, images, k * sampleLength);
    }),
  );
  const kept: number[] = [];
  const bad: BadFile[] = [];
  results.forEach((result, k) => {
    if (result.status === 'fulfilled') {
      if (kept.length < k) {
        images.copyWithin(kept.length * sampleLength, k * sampleLength, (k + 1) * sampleLength);
      }
      kept.push(k);
    } else if (params.skipBad) {
      const path = paths[k] as string;
      const message = messageOf(result.reason);
      bad.push({
        path,
        reason: message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message,
      });
    } else {
      throw result.reason;
    }
  });
  return {
    images: kept.length < indices.length ? images.slice(0, kept.length * sampleLength) : images,
    kept,
    bad,
  };
}
