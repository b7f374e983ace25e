import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tar from 'tar';
import { fetchDataset, openDataset, type DatasetEntry } from '../src/data/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const mirror = resolve(repoRoot, '../shared/data');

describe('fetch from a download server (127.0.0.1)', () => {
  let temp: string;
  let archive: Buffer;
  let server: Server;
  let base: string;
  const requests: { url: string; range?: string; bytes: number }[] = [];

  const manifest = (file: string, sha256 = createHash('sha256').update(archive).digest('hex')) => ({
    tiny: {
      description: 'test',
      format: 'folders',
      archives: [{ file, url: `${base}/${file}`, sha256 }],
    } as DatasetEntry,
  });

  before(async () => {
    temp = await mkdtemp(join(tmpdir(), 'bireal-fetch-'));
    const source = join(temp, 'source', 'tiny');
    for (const split of ['train', 'val']) {
      await mkdir(join(source, split, 'n0001'), { recursive: true });
      const image = sharp({
        create: { width: 40, height: 30, channels: 3, background: '#3366cc' },
      });
      // Noise makes the archive big enough (~100 kB) to be cut in two.
      const noise = Buffer.from(
        Array.from({ length: 40 * 30 * 3 * 20 }, (_, i) => (i * 7919) % 251),
      );
      await writeFile(join(source, split, 'n0001', 'a.png'), await image.png().toBuffer());
      await writeFile(
        join(source, split, 'n0001', 'b.png'),
        await sharp(noise, { raw: { width: 200, height: 72, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
    const file = join(temp, 'tiny.tar.gz');
    await tar.c({ gzip: true, file, cwd: join(temp, 'source') }, ['tiny']);
    archive = await readFile(file);
    const corrupt = Buffer.from(archive);
    corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
    server = createServer((request, response) => {
      const body =
        request.url === '/corrupt.tar.gz'
          ? corrupt
          : request.url === '/tiny.tar.gz' || request.url === '/flaky.tar.gz'
            ? archive
            : null;
      const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const entry: (typeof requests)[number] = { url: request.url ?? '', bytes: 0 };
      if (request.headers.range) entry.range = request.headers.range;
      requests.push(entry);
      if (body === null) return void response.writeHead(404).end();
      if (request.url === '/flaky.tar.gz' && !range) {
        // The first attempt breaks off after a third of the archive.
        response.writeHead(200, { 'content-length': body.length });
        response.write(body.subarray(0, Math.floor(body.length / 3)));
        return void setTimeout(() => response.socket?.destroy(), 100);
      }
      const part = body.subarray(start);
      entry.bytes = part.length;
      const headers = { 'content-length': part.length, 'content-type': 'application/gzip' };
      if (range) {
        Object.assign(headers, {
          'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        });
      }
      response.writeHead(range ? 206 : 200, headers).end(part);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((done) => server.close(done));
    await rm(temp, { recursive: true, force: true });
  });

  it('downloads, verifies, extracts atomically, and does nothing the second time', async () => {
    const cacheDir = join(temp, 'cache-complete');
    requests.length = 0;
    const dir = await fetchDataset('tiny', { cacheDir, manifest: manifest('tiny.tar.gz') });
    assert.equal(dir, join(cacheDir, 'tiny'));
    assert.deepEqual(requests, [{ url: '/tiny.tar.gz', bytes: archive.length }]);
    assert.ok(existsSync(join(dir, '.complete')));
    assert.deepEqual((await readdir(cacheDir)).sort(), ['downloads', 'tiny']); // no temp folder left
    const data = await openDataset(`folder:${dir}:train`);
    assert.deepEqual([data.size, data.classes], [2, ['n0001']]);
    await fetchDataset('tiny', { cacheDir, manifest: manifest('tiny.tar.gz') });
    assert.equal(requests.length, 1);
  });

  it('resumes a partial download with an HTTP Range request', async () => {
    const cacheDir = join(temp, 'cache-resume');
    await mkdir(join(cacheDir, 'downloads'), { recursive: true });
    const half = Math.floor(archive.length / 2);
    await writeFile(join(cacheDir, 'downloads', 'tiny.tar.gz.part'), archive.subarray(0, half));
    requests.length = 0;
    const dir = await fetchDataset('tiny', { cacheDir, manifest: manifest('tiny.tar.gz') });
    assert.deepEqual(requests, [
      { url: '/tiny.tar.gz', range: `bytes=${half}-`, bytes: archive.length - half },
    ]);
    assert.deepEqual(await readFile(join(cacheDir, 'downloads', 'tiny.tar.gz')), archive);
    assert.ok(existsSync(join(dir, 'val', 'n0001', 'b.png')));
  });

  it('resumes after a broken connection', async () => {
    const cacheDir = join(temp, 'cache-flaky');
    const options = { cacheDir, manifest: manifest('flaky.tar.gz') };
    await assert.rejects(
      fetchDataset('tiny', options),
      /flaky.tar.gz: download failed \(.*\); run the fetch again to resume/,
    );
    const partial = (await readFile(join(cacheDir, 'downloads', 'flaky.tar.gz.part'))).length;
    assert.ok(partial > 0 && partial < archive.length, `${partial} bytes kept`);
    requests.length = 0;
    await fetchDataset('tiny', options);
    assert.deepEqual(requests, [
      { url: '/flaky.tar.gz', range: `bytes=${partial}-`, bytes: archive.length - partial },
    ]);
  });

  it('rejects a corrupted archive with a sha256 error and deletes it', async () => {
    const cacheDir = join(temp, 'cache-corrupt');
    const expected = createHash('sha256').update(archive).digest('hex');
    await assert.rejects(
      fetchDataset('tiny', { cacheDir, manifest: manifest('corrupt.tar.gz', expected) }),
      new RegExp(
        `corrupt.tar.gz: sha256 mismatch \\(expected ${expected}, got [0-9a-f]{64}\\); the download was deleted`,
      ),
    );
    assert.deepEqual(await readdir(join(cacheDir, 'downloads')), []);
    assert.ok(!existsSync(join(cacheDir, 'tiny')));
    await assert.rejects(
      fetchDataset('tiny', { cacheDir, manifest: manifest('missing.tar.gz') }),
      /missing.tar.gz: HTTP 404/,
    );
  });

  it('takes the archive from a mirror folder without any request, and checks it', async () => {
    const cacheDir = join(temp, 'cache-mirror');
    const local = join(temp, 'mirror');
    await mkdir(local);
    await writeFile(join(local, 'tiny.tar.gz'), archive);
    requests.length = 0;
    const dir = await fetchDataset('tiny', {
      cacheDir,
      mirror: local,
      manifest: manifest('tiny.tar.gz'),
    });
    assert.ok(existsSync(join(dir, 'train', 'n0001', 'a.png')));
    assert.equal(requests.length, 0);
    const wrong = manifest('tiny.tar.gz', '0'.repeat(64));
    await assert.rejects(
      fetchDataset('tiny', {
        cacheDir: join(temp, 'cache-bad-mirror'),
        mirror: local,
        manifest: wrong,
      }),
      /mirror\/tiny.tar.gz: sha256 mismatch/,
    );
    await assert.rejects(
      fetchDataset('tiny', {
        cacheDir: join(temp, 'cache-none'),
        download: false,
        manifest: manifest('tiny.tar.gz'),
      }),
      /tiny is not prepared in .*cache-none .*run 'bireal data fetch tiny \[--from DIR\]'/,
    );
    await assert.rejects(
      fetchDataset('nope', { cacheDir }),
      /unknown dataset 'nope'; fetchable: imagenette, cifar10/,
    );
  });
});

describe('the real archives in ../shared/data, prepared once in data/cache', () => {
  it('imagenette: 9,469 train + 3,925 val images of 10 classes with their labels', async () => {
    const train = await openDataset('imagenette:train', { mirror });
    const val = await openDataset('imagenette:val', { mirror });
    assert.deepEqual([train.size, val.size], [9469, 3925]);
    assert.deepEqual(val.labels.slice(0, 3), ['tench', 'English springer', 'cassette player']);
    for await (const batch of val.batches(
      { batchSize: 32, imageSize: 64, augment: true, seed: 0, workers: 2 },
      0,
    )) {
      assert.equal(batch.n, 32);
      break;
    }
    await Promise.all([train.close(), val.close()]);
  });

  it('cifar10: the JPEG-folder archive, converted to the binary format', async () => {
    const dir = await fetchDataset('cifar10', { mirror });
    assert.deepEqual((await readdir(dir)).sort(), [
      '.complete',
      'batches.meta.txt',
      ...[1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
      'test_batch.bin',
    ]);
    const test = await openDataset('cifar10:test', { mirror });
    assert.deepEqual([test.size, test.classes[0], test.classes[9]], [10000, 'airplane', 'truck']);
    const counts = new Array<number>(10).fill(0);
    for await (const batch of test.batches(
      { batchSize: 2500, imageSize: 32, augment: false, seed: 0, workers: 0 },
      0,
    )) {
      for (const label of batch.labels) counts[label]!++;
    }
    assert.deepEqual(counts, new Array(10).fill(1000));
    await test.close();
    // The converted pixels are the JPEG's, channel-major (sharp decodes it independently; JPEG
    // decoders may differ by a few levels).
    const temp = await mkdtemp(join(tmpdir(), 'bireal-cifar-jpg-'));
    await tar.x({ file: join(mirror, 'cifar10-jpg.tar.gz'), cwd: temp }, [
      'test/airplane/0000.jpg',
    ]);
    const pixels = await sharp(join(temp, 'test/airplane/0000.jpg')).raw().toBuffer();
    const record = (await readFile(join(dir, 'test_batch.bin'))).subarray(0, 3073);
    assert.equal(record[0], 0);
    let difference = 0;
    for (let i = 0; i < 3072; i++)
      difference += Math.abs(record[1 + (i % 3) * 1024 + Math.floor(i / 3)]! - pixels[i]!);
    assert.ok(difference / 3072 < 3, `mean difference ${difference / 3072}`);
    await rm(temp, { recursive: true });
  });
});
