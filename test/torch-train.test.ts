/**
 * The PyTorch trainer (python/bireal_torch) under torchrun: two CPU processes (gloo) train a tiny
 * recipe on Imagenette, end with the same weights, the loss falls, `bireal report` reads the run
 * folder, and the checkpoint comes back through `bireal import` to `bireal eval --model`. Needs
 * Debian's python3-torch and python3-pil (skips with a message where they are missing).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { main } from '../src/cli/main.js';
import { loadExperiment } from '../src/experiments/index.js';
import { experimentsMarkdown } from '../src/experiments/report.js';
import { torchPython } from '../src/train/torch.js';

const ENV = { ...process.env, PYTHONPATH: 'python', OMP_NUM_THREADS: '1' };
const missing =
  spawnSync(torchPython(), ['-c', 'import torch, PIL'], { env: ENV }).status === 0
    ? false
    : `PyTorch or PIL missing for ${torchPython()}: bash scripts/setup.sh installs python3-torch and python3-pil`;
if (missing) console.log(`# skipped: ${missing}`);

const RECIPE = {
  name: 'torch-tiny',
  seed: 0,
  dataset: {
    train: 'imagenette:train',
    eval: 'imagenette:val',
    imageSize: 32,
    workers: 0,
    crop: 'resized',
    scale: [0.35, 1],
    lighting: 0.1,
  },
  limitBatches: 12,
  stages: [
    {
      name: 'binary',
      model: { name: 'bireal18', options: { width: 0.25 } },
      optimizer: { type: 'adam', lr: 0.004 },
      schedule: { type: 'linear' },
      epochs: 3,
      batchSize: 16,
    },
  ],
};

describe('torchrun with 2 CPU processes (gloo)', { skip: missing }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bireal-torchrun-'));
  const run = join(dir, 'run');
  let output = '';

  before(async () => {
    await initBackend({ log: false });
    writeFileSync(join(dir, 'recipe.json'), JSON.stringify(RECIPE));
    // Debian's torchrun needs --redirects 1 (its default 0 crashes); --tee 1 keeps stdout.
    const args = ['--standalone', '--nproc_per_node=2', '--redirects', '1', '--tee', '1'];
    const result = spawnSync(
      '/usr/bin/torchrun',
      [...args, '-m', 'bireal_torch.train', '--config', join(dir, 'recipe.json'), '--out', run],
      { env: ENV, encoding: 'utf8', timeout: 300_000 },
    );
    output = `${result.stdout}${result.stderr}`;
    assert.equal(result.status, 0, output);
  });

  it('trains 36 steps: both ranks end with the same weights and the loss falls', () => {
    const digests = [...output.matchAll(/rank (\d)\/2 stage 'binary' weights sha256 (\w+)/g)];
    assert.deepEqual(digests.map((m) => m[1]).sort(), ['0', '1'], output);
    assert.equal(digests[0]?.[2], digests[1]?.[2], 'the two ranks hold different weights');
    const steps = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; loss: number })
      .filter((entry) => entry.type === 'step');
    assert.equal(steps.length, 36);
    const mean = (xs: { loss: number }[]) => xs.reduce((a, x) => a + x.loss, 0) / xs.length;
    const [first, last] = [mean(steps.slice(0, 8)), mean(steps.slice(-8))];
    console.log(`# loss: first 8 steps ${first.toFixed(3)}, last 8 ${last.toFixed(3)}`);
    assert.ok(last < first - 0.1, `the loss did not fall: ${first} -> ${last}`);
  });

  it('writes a run folder that bireal report reads, with the backend and world size', () => {
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as {
      backend: string;
      worldSize: number;
    };
    assert.match(summary.backend, /^torch .*\(gloo, 2 processes, CPU/);
    assert.equal(summary.worldSize, 2);
    const results = join(dir, 'results');
    const recorded = join(results, 'regime-map-64', 'bi-real-w0.25-s0');
    mkdirSync(recorded, { recursive: true });
    for (const file of ['config.json', 'summary.json', 'metrics.jsonl']) {
      cpSync(join(run, file), join(recorded, file));
    }
    const runs = loadExperiment('regime-map-64', results);
    assert.equal(runs.length, 1);
    const markdown = experimentsMarkdown((name) => (name === 'regime-map-64' ? runs : []));
    assert.match(markdown, /backends: torch .*gloo, 2 processes/);
  });

  it('comes back by bireal import (.bireal) and is evaluated by bireal eval --model', async () => {
    const deploy = join(dir, 'tiny.bireal');
    const checkpoint = join(run, 'checkpoints', '1-binary.pt');
    assert.equal(await main(['import', '--torch', checkpoint, '--out', deploy]), 0);
    const args = ['eval', '--model', deploy, '--limit', '32', '--threads', '1', '--json'];
    assert.equal(await main(args), 0);
  });
});
