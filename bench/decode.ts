/**
 * Decoder and loader benchmark.
 *   1. JPEG decode throughput (full image to RGB pixels): sharp (libvips) vs jpeg-js (pure JS), on
 *      the 50 original-resolution ImageNet photos and on Imagenette (224 px) validation images.
 *   2. Loader throughput of `imagenette:train` (decode + RandomResizedCrop + flip + lighting +
 *      normalise) at several sizes and worker counts.
 *
 *   npm run bench -- decode [--from DIR] [--sizes 64,128,224] [--workers 0,1,2] [--batches 10]
 *
 * DIR holds imagenet-samples-50.tar.gz and imagenette2-224.tar.gz (default env
 * BIREAL_DATA_MIRROR, else ../shared/data beside the checkout).
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import jpeg from 'jpeg-js';
import sharp from 'sharp';
import * as tar from 'tar';
import { fetchDataset, openDataset } from '../src/data/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Images/s of `decode` over `buffers`, `inFlight` at a time, over at least `seconds`. */
async function throughput(
  buffers: Buffer[],
  decode: (buffer: Buffer) => Promise<unknown>,
  inFlight: number,
  seconds = 2,
): Promise<number> {
  let done = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < buffers.length; i += inFlight) {
      await Promise.all(buffers.slice(i, i + inFlight).map(decode));
    }
    done += buffers.length;
  }
  return (done * 1000) / (performance.now() - start);
}

async function decoders(sets: [string, Buffer[]][]): Promise<void> {
  const viaSharp = (buffer: Buffer) => sharp(buffer).toColourspace('srgb').raw().toBuffer();
  const viaJpegJs = async (buffer: Buffer) =>
    jpeg.decode(buffer, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
  console.log('JPEG decode to RGB pixels, images/s (2 cores):');
  console.log('images                          sharp x1  sharp x8  jpeg-js');
  for (const [name, buffers] of sets) {
    const rates = [
      await throughput(buffers, viaSharp, 1),
      await throughput(buffers, viaSharp, 8),
      await throughput(buffers, viaJpegJs, 1),
    ];
    console.log(`${name.padEnd(30)} ${rates.map((r) => r.toFixed(0).padStart(9)).join('')}`);
  }
  console.log(
    '(sharp x1: one image at a time; x8: eight in flight on the libuv pool; jpeg-js: one thread)\n',
  );
}

async function loader(mirror: string, sizes: number[], workerCounts: number[], batches: number) {
  await fetchDataset('imagenette', { mirror });
  const data = await openDataset('imagenette:train');
  console.log(`loader: ${data.id}, batch 64, RandomResizedCrop + flip + lighting, images/s`);
  console.log(`size  ${workerCounts.map((w) => `${w} workers`.padStart(10)).join('')}`);
  try {
    for (const imageSize of sizes) {
      const rates: number[] = [];
      for (const workers of workerCounts) {
        const options = { batchSize: 64, imageSize, augment: true, seed: 0, workers };
        for await (const batch of data.batches(options, 0)) if (batch) break; // warm-up: start the workers
        let images = 0;
        const start = performance.now();
        for await (const batch of data.batches(options, 0, 1)) {
          images += batch.n;
          if (batch.index >= batches) break;
        }
        rates.push((images * 1000) / (performance.now() - start));
      }
      console.log(
        `${String(imageSize).padEnd(5)} ${rates.map((r) => r.toFixed(0).padStart(10)).join('')}`,
      );
    }
  } finally {
    await data.close();
  }
}

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' },
      sizes: { type: 'string', default: '64,128,224' },
      workers: { type: 'string', default: '0,1,2' },
      batches: { type: 'string', default: '10' },
    },
    strict: true,
  });
  const mirror =
    values.from ?? process.env.BIREAL_DATA_MIRROR ?? resolve(repoRoot, '../shared/data');
  const temp = await mkdtemp(join(tmpdir(), 'bireal-bench-'));
  try {
    await tar.x({ file: join(mirror, 'imagenet-samples-50.tar.gz'), cwd: temp });
    const samplesDir = join(temp, 'imagenet-samples-50');
    const samples = await Promise.all(
      (await readdir(samplesDir)).map((f) => readFile(join(samplesDir, f))),
    );
    const netteDir = join(await fetchDataset('imagenette', { mirror }), 'val', 'n03888257');
    const nette = await Promise.all(
      (await readdir(netteDir)).slice(0, 200).map((f) => readFile(join(netteDir, f))),
    );
    await decoders([
      ['ImageNet originals (50)', samples],
      ['Imagenette 224 px (200)', nette],
    ]);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  await loader(
    mirror,
    values.sizes.split(',').map(Number),
    values.workers.split(',').map(Number),
    Number(values.batches),
  );
}
