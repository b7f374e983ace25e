/**
 * CIFAR-10 in its official binary format (records of 1 label byte + 3072 pixel bytes, channel-major:
 * data_batch_1..5.bin, test_batch.bin), held in shared memory as HWC uint8; and the conversion of
 * the JPEG-folder form (train|test/<class>/<image>.jpg in a tar.gz) into that format. The
 * conversion decodes with jpeg-js: for 32x32 images it is ~3x faster per core than sharp, whose
 * per-image set-up dominates there.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import * as tar from 'tar';
import { DataError, messageOf } from './errors.js';

/** CIFAR-10's classes in label order. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;
/** The binary files of each split. */
export const CIFAR10_FILES: Record<string, string[]> = {
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ['test_batch.bin'],
};
const SIDE = 32;
const PIXELS = SIDE * SIDE;
const RECORD = 1 + 3 * PIXELS;

/** Reads CIFAR-10 binary files into HWC uint8 pixels (in a SharedArrayBuffer) and labels. */
export async function readCifarBinary(
  files: string[],
): Promise<{ pixels: Uint8Array; targets: Int32Array }> {
  const buffers = await Promise.all(
    files.map((file) =>
      readFile(file).catch(() => {
        throw new DataError(
          `${file}: missing (expected the CIFAR-10 binary release: ${CIFAR10_FILES.train?.join(', ')}, test_batch.bin)`,
        );
      }),
    ),
  );
  const count = buffers.reduce((n, buffer, i) => {
    if (buffer.length % RECORD !== 0) {
      throw new DataError(
        `${files[i]}: ${buffer.length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records`,
      );
    }
    return n + buffer.length / RECORD;
  }, 0);
  const pixels = new Uint8Array(new SharedArrayBuffer(count * 3 * PIXELS));
  const targets = new Int32Array(count);
  let n = 0;
  buffers.forEach((buffer, i) => {
    for (let r = 0; r < buffer.length; r += RECORD, n++) {
      const label = buffer[r] as number;
      if (label >= CIFAR10_CLASSES.length) {
        throw new DataError(`${files[i]}: record ${r / RECORD} has label ${label} (expected 0-9)`);
      }
      targets[n] = label;
      for (let p = 0; p < PIXELS; p++) {
        for (let c = 0; c < 3; c++)
          pixels[(n * PIXELS + p) * 3 + c] = buffer[r + 1 + c * PIXELS + p] as number;
      }
    }
  });
  return { pixels, targets };
}

/**
 * Converts the CIFAR-10 JPEG-folder archive into the binary release's files in `outDir`
 * (classes in CIFAR-10's label order, 10,000 training records per data_batch file).
 */
export async function convertCifarJpeg(archive: string, outDir: string): Promise<void> {
  const entries: { split: string; label: number; path: string; chunks: Buffer[] }[] = [];
  await tar.t({
    file: archive,
    strict: true,
    onReadEntry: (entry) => {
      const match = /(?:^|\/)(train|test)\/([^/]+)\/[^/]+\.jpe?g$/i.exec(entry.path);
      const label = CIFAR10_CLASSES.indexOf(match?.[2] as (typeof CIFAR10_CLASSES)[number]);
      if (entry.type !== 'File' || !match || label < 0) return void entry.resume();
      const item = { split: match[1] as string, label, path: entry.path, chunks: [] as Buffer[] };
      entries.push(item);
      entry.on('data', (chunk: Buffer) => item.chunks.push(chunk));
    },
  });
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const [split, names] of Object.entries(CIFAR10_FILES)) {
    const items = entries.filter((item) => item.split === split);
    if (items.length === 0) throw new DataError(`${archive}: no ${split}/<class>/*.jpg images`);
    const records = Buffer.alloc(items.length * RECORD);
    items.forEach((item, n) => {
      let image: Uint8Array;
      try {
        const decoded = jpeg.decode(Buffer.concat(item.chunks), {
          useTArray: true,
          formatAsRGBA: false,
        });
        if (decoded.width !== SIDE || decoded.height !== SIDE) {
          throw new Error(`${decoded.width}x${decoded.height}, expected 32x32`);
        }
        image = decoded.data;
      } catch (error) {
        throw new DataError(`${archive}: ${item.path}: not a 32x32 JPEG (${messageOf(error)})`);
      }
      records[n * RECORD] = item.label;
      for (let p = 0; p < PIXELS; p++) {
        for (let c = 0; c < 3; c++)
          records[n * RECORD + 1 + c * PIXELS + p] = image[p * 3 + c] as number;
      }
    });
    const perFile = Math.ceil(items.length / names.length);
    await Promise.all(
      names.map((name, i) =>
        writeFile(
          join(outDir, name),
          records.subarray(i * perFile * RECORD, (i + 1) * perFile * RECORD),
        ),
      ),
    );
  }
  await writeFile(join(outDir, 'batches.meta.txt'), `${CIFAR10_CLASSES.join('\n')}\n`);
}
