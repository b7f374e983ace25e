import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { run, usage } from '../src/cli/data.js';
import { UsageError } from '../src/cli/usage.js';
import { defaultCacheDir } from '../src/data/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `bireal data ARGS`; returns what it printed and the exit code it set (then clears it). */
async function data(...args: string[]): Promise<{ out: string; code: number }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(' '));
  try {
    await run(args);
  } finally {
    console.log = log;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out: lines.join('\n'), code };
}

describe('bireal data verify', () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bireal-verify-'));
    const png = await sharp({
      create: { width: 50, height: 40, channels: 3, background: '#808080' },
    })
      .png()
      .toBuffer();
    for (const [split, count] of [
      ['train', 3],
      ['val', 2],
    ] as const) {
      for (const cls of ['cat', 'dog']) {
        await mkdir(join(root, 'good', split, cls), { recursive: true });
        await mkdir(join(root, 'bad', split, cls), { recursive: true });
        for (let i = 0; i < count; i++) {
          await writeFile(join(root, 'good', split, cls, `${i}.png`), png);
          await writeFile(join(root, 'bad', split, cls, `${i}.png`), png);
        }
      }
    }
    await writeFile(join(root, 'bad', 'val', 'dog', 'text.JPEG'), 'hello');
    await writeFile(join(root, 'bad', 'train', 'cat', 'cut.png'), png.subarray(0, 60));
    await mkdir(join(root, 'bad', 'train', 'emu'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('counts every split of a good folder and exits 0', async () => {
    const { out, code } = await data(
      'verify',
      join(root, 'good'),
      '--size',
      '32',
      '--workers',
      '0',
    );
    assert.equal(code, 0);
    assert.equal(out, 'train: 6 images in 2 classes, 0 bad\nval: 4 images in 2 classes, 0 bad');
  });

  it('names every bad file with its reason and exits 1 (0 with --skip-bad)', async () => {
    const { out, code } = await data('verify', join(root, 'bad'), '--size', '32');
    assert.equal(code, 1);
    const bad = join(root, 'bad');
    assert.match(out, /^train: 7 images in 3 classes, 2 bad$/m);
    assert.match(out, /^val: 5 images in 3 classes, 2 bad$/m);
    assert.ok(
      out.includes(
        `bad: ${join(bad, 'train', 'cat', 'cut.png')}: not a decodable JPEG or PNG image (`,
      ),
    );
    assert.ok(out.includes(`bad: ${join(bad, 'train', 'emu')}: empty or missing class folder`));
    assert.ok(
      out.includes(
        `bad: ${join(bad, 'val', 'dog', 'text.JPEG')}: not a decodable JPEG or PNG image`,
      ),
    );
    assert.ok(out.includes(`bad: ${join(bad, 'val', 'emu')}: empty or missing class folder`));
    assert.match(out, /^4 bad file\(s\)$/m);
    const skipping = await data('verify', join(root, 'bad'), '--skip-bad');
    assert.equal(skipping.code, 0);
    assert.match(skipping.out, /^4 bad file\(s\) \(skipped\)$/m);
  });

  it('reports a split without class folders', async () => {
    await mkdir(join(root, 'bare', 'train'), { recursive: true });
    const { out, code } = await data('verify', join(root, 'bare'));
    assert.equal(code, 1);
    assert.match(out, /^train: 0 images in 0 classes, 1 bad$/m);
    assert.ok(out.includes(`bad: ${join(root, 'bare', 'train')}: no class folders (expected`));
  });

  it('rejects a wrong path with a clear message', async () => {
    await assert.rejects(
      data('verify', join(root, 'nope')),
      /nope: no such folder \(expected an ImageNet-layout folder/,
    );
  });
});

describe('bireal data: arguments and fetch', () => {
  it('throws UsageError for bad arguments', async () => {
    for (const args of [
      [],
      ['what'],
      ['fetch'],
      ['fetch', 'nope'],
      ['verify'],
      ['verify', 'a', 'b'],
      ['verify', '.', '--size', '0'],
    ]) {
      await assert.rejects(data(...args), UsageError, args.join(' '));
    }
    assert.match(usage, /data fetch NAME \[--from DIR\]/);
    assert.match(usage, /data verify PATH \[--skip-bad\]/);
  });

  it('fetches imagenette from a mirror folder, once', async () => {
    const { out } = await data(
      'fetch',
      'imagenette',
      '--from',
      resolve(repoRoot, '../shared/data'),
    );
    assert.equal(out, `imagenette: ${join(defaultCacheDir(), 'imagenette')}`);
    assert.match((await data('fetch', 'mnist')).out, /nothing to fetch/);
  });
});
