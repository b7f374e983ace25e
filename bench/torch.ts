/**
 * Side by side: a bireal18 training step in bireal (this process) and in PyTorch's CPU build
 * (Debian's python3-torch, run as bench/torch_bireal.py), same network, shapes and optimizer,
 * in the same run; prints images/s of both and the ratio. PyTorch runs with each thread count
 * given, bireal with each number of data-parallel replicas (threads) given; the best of each
 * is compared (default replicas: the training default). Both sides time their steps after the
 * same warm-up.
 *
 *   npm run bench -- torch [--sizes 64,128,224] [--batch 32] [--steps 3] [--threads 1,2]
 *                          [--replicas 1,2]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeBackend, initBackend } from '../src/backend/index.js';
import { defaultReplicas } from '../src/parallel/index.js';
import { WARMUP_STEPS, benchTrainStep } from './train.js';

const SCRIPT = fileURLToPath(new URL('../../bench/torch_bireal.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

interface TorchResult {
  size: number;
  images_per_second: number;
  threads: number;
  torch: string;
}

function runTorch(sizes: string, batch: string, steps: string, threads: string): TorchResult[] {
  const args = [SCRIPT, '--sizes', sizes, '--batch', batch, '--steps', steps, '--threads', threads];
  args.push('--warmup', String(WARMUP_STEPS));
  const out = execFileSync(PYTHON, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as TorchResult);
}

/** Runs the comparison from command-line arguments. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: 'string', default: '64,128,224' },
      batch: { type: 'string', default: '32' },
      steps: { type: 'string', default: '3' },
      threads: { type: 'string', default: '1,2' },
      replicas: { type: 'string' },
    },
  });
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    console.error('PyTorch is not installed for /usr/bin/python3: apt-get install python3-torch');
    process.exitCode = 1;
    return;
  }
  const torch = values.threads
    .split(',')
    .flatMap((t) => runTorch(values.sizes, values.batch, values.steps, t));
  await initBackend({ log: false });
  const replicas = values.replicas ?? String(defaultReplicas());
  console.log(
    `bireal18 training step, batch ${values.batch}, Adam: bireal on ${describeBackend()} (best of replicas ${replicas}) vs PyTorch ${torch[0]?.torch} CPU (best of threads ${values.threads})`,
  );
  console.log('size  bireal img/s (replicas)  torch img/s (threads)  ratio');
  for (const size of values.sizes.split(',').map(Number)) {
    const runs: Awaited<ReturnType<typeof benchTrainStep>>[] = [];
    for (const count of replicas.split(',').map(Number)) {
      runs.push(await benchTrainStep(size, Number(values.batch), Number(values.steps), count));
    }
    const ours = runs.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
    const best = torch
      .filter((r) => r.size === size)
      .reduce((a, b) => (b.images_per_second > a.images_per_second ? b : a));
    const ratio = ours.imagesPerSecond / best.images_per_second;
    console.log(
      `${String(size).padStart(4)}  ${ours.imagesPerSecond.toFixed(2).padStart(12)} (${ours.replicas})  ${best.images_per_second.toFixed(2).padStart(16)} (${best.threads})  ${ratio.toFixed(2).padStart(8)}`,
    );
  }
}
