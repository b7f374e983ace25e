/**
 * Test helpers for the trainer: a small in-memory dataset that a tiny net learns in a few steps
 * (each class is a bright patch at its own place and channel over noise), and tiny recipes.
 */
import type { Batch, BatchOptions, DatasetSplit } from '../src/data/types.js';
import { parseRecipe, type Recipe } from '../src/train/recipe.js';
import type { OpenDataset } from '../src/train/trainer.js';

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link syntheticSplit}. */
export interface SyntheticOptions {
  /** Default 'synthetic:train'. */
  id?: string;
  /** Examples; default 64. */
  size?: number;
  /** Default 4. */
  classes?: number;
  /** Default 3. */
  channels?: 1 | 3;
  /** The images of this batch of this epoch (0-based) are all NaN. */
  nanAt?: { epoch: number; batch: number };
}

/** Writes example `index` (label `index % classes`) into `out` at `offset`, side `size`. */
function drawExample(
  out: Float32Array,
  offset: number,
  index: number,
  size: number,
  channels: number,
  classes: number,
): void {
  const next = random(index + 1);
  const label = index % classes;
  const patch = Math.max(1, Math.floor(size / 2));
  const top = label % 2 === 0 ? 0 : size - patch;
  const left = Math.floor(label / 2) % 2 === 0 ? 0 : size - patch;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < channels; c++) {
        const inPatch = y >= top && y < top + patch && x >= left && x < left + patch;
        const bright = inPatch && c === label % channels;
        out[offset + (y * size + x) * channels + c] = (next() - 0.5) * 0.6 + (bright ? 1.5 : -0.3);
      }
    }
  }
}

/** A learnable in-memory split that follows the DatasetSplit contract (order fixed by seed and epoch). */
export function syntheticSplit(options: SyntheticOptions = {}): DatasetSplit & { closed: boolean } {
  const size = options.size ?? 64;
  const classCount = options.classes ?? 4;
  const channels = options.channels ?? 3;
  const classes = Array.from({ length: classCount }, (_, i) => `c${i}`);
  const split = {
    id: options.id ?? 'synthetic:train',
    classes,
    labels: classes.map((c) => `class ${c}`),
    size,
    channels,
    mean: new Array<number>(channels).fill(0),
    std: new Array<number>(channels).fill(1),
    resizeRatio: 1,
    skipped: [],
    closed: false,
    numBatches(o: BatchOptions): number {
      return o.dropLast ? Math.floor(size / o.batchSize) : Math.ceil(size / o.batchSize);
    },
    async *batches(o: BatchOptions, epoch: number, startBatch = 0): AsyncGenerator<Batch> {
      const order = Array.from({ length: size }, (_, i) => i);
      if (o.augment) {
        const next = random(o.seed * 7919 + epoch);
        for (let i = size - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1));
          [order[i], order[j]] = [order[j] as number, order[i] as number];
        }
      }
      const side = o.imageSize;
      const depth = o.channels ?? channels;
      for (let b = startBatch; b < split.numBatches(o); b++) {
        const indices = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
        const n = indices.length;
        const pixels = side * side * depth;
        const images = new Float32Array(n * pixels);
        indices.forEach((index, i) =>
          drawExample(images, i * pixels, index, side, depth, classCount),
        );
        if (options.nanAt?.epoch === epoch && options.nanAt.batch === b) images.fill(NaN);
        const labels = Int32Array.from(indices, (i) => i % classCount);
        yield { images, labels, n, height: side, width: side, channels: depth, index: b };
      }
    },
    async close(): Promise<void> {
      split.closed = true;
    },
  };
  return split;
}

/** An opener that serves the given splits by id and rejects others. */
export function openerOf(...splits: DatasetSplit[]): OpenDataset {
  return async (spec) => {
    const split = splits.find((s) => s.id === spec);
    if (split === undefined) throw new Error(`unknown test dataset ${spec}`);
    return split;
  };
}

/** A tiny one-stage recipe on synthetic data (Bi-Real-18 at width 0.125, 16 px), with changes. */
export function tinyRecipe(changes: Record<string, unknown> = {}): Recipe {
  return parseRecipe({
    name: 'tiny',
    seed: 3,
    dataset: { train: 'synthetic:train', eval: 'synthetic:test', imageSize: 16, workers: 0 },
    stages: [
      {
        name: 'binary',
        model: { name: 'bireal18', options: { smallInput: true, width: 0.125 } },
        optimizer: { type: 'adam', lr: 0.01 },
        schedule: { type: 'linear' },
        epochs: 2,
        batchSize: 16,
        labelSmoothing: 0.1,
      },
    ],
    ...changes,
  });
}
