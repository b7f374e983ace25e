/**
 * Checks the landing page's MNIST demo in Node: writes the demo's assets to a temporary folder,
 * trains the recipe of `site/client/mnist-recipe.ts` on them with the library's wasm backend (one
 * thread), once per seed, and prints the steps and seconds to > 90% test accuracy and the final
 * accuracy. Exits with status 1 when a seed never passes 90% or leaks tensors.
 *
 *   node dist/site/build/mnist-demo-check.js [--seeds 1,2,3] [--FIELD VALUE ...]
 *
 * FIELD is a field of `MnistRecipe`, to try variants (`--lr 0.01 --blocks 2,2,2`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBackend, initBackend } from '../../src/index.js';
import {
  MNIST_RECIPE,
  compareSizes,
  trainMnist,
  type MnistRecipe,
  type MnistSplit,
} from '../client/mnist-recipe.js';
import { writeMnistAssets } from './mnist-assets.js';

/** Reads one split of the assets, as the page fetches it. */
async function readSplit(dir: string, split: 'train' | 'test'): Promise<MnistSplit> {
  const [images, labels] = await Promise.all([
    readFile(join(dir, `${split}-images.bin`)),
    readFile(join(dir, `${split}-labels.bin`)),
  ]);
  return { images: new Uint8Array(images), labels: new Uint8Array(labels) };
}

/** `--seeds` and recipe overrides from the command line. */
function parseArgs(args: string[]): { seeds: number[]; recipe: MnistRecipe } {
  const recipe: Record<string, unknown> = { ...MNIST_RECIPE };
  let seeds = [1, 2, 3];
  for (let i = 0; i < args.length; i += 2) {
    const key = (args[i] ?? '').replace(/^--/, '');
    const values = (args[i + 1] ?? '').split(',').map(Number);
    if (values.some((v) => !Number.isFinite(v))) throw new Error(`--${key} needs numbers`);
    if (key === 'seeds') seeds = values;
    else if (Array.isArray(recipe[key])) recipe[key] = values;
    else if (typeof recipe[key] === 'number') recipe[key] = values[0];
    else
      throw new Error(
        `unknown option --${key}: use --seeds or --FIELD with a field of MnistRecipe`,
      );
  }
  return { seeds, recipe: recipe as unknown as MnistRecipe };
}

const { seeds, recipe } = parseArgs(process.argv.slice(2));
await initBackend({ backend: 'wasm', log: false });
const folder = await mkdtemp(join(tmpdir(), 'mnist-demo-'));
let failed = false;
try {
  await writeMnistAssets(folder);
  const [train, test] = await Promise.all([
    readSplit(join(folder, 'mnist'), 'train'),
    readSplit(join(folder, 'mnist'), 'test'),
  ]);
  console.log(
    `${describeBackend()}; ${train.labels.length} train, ${test.labels.length} test images`,
  );
  console.log(`recipe ${JSON.stringify(recipe)}`);
  for (const seed of seeds) {
    const tensors = tf.memory().numTensors;
    const result = await trainMnist(train, test, {
      recipe: { ...recipe, seed },
      pause: () => new Promise((resolve) => setImmediate(resolve)),
      onEvaluate: (e) =>
        console.log(
          `  step ${e.step}: ${e.seconds.toFixed(1)} s, test ${(100 * e.accuracy).toFixed(2)}%`,
        ),
    });
    const { reached } = result;
    const to90 = reached ? `step ${reached.step}, ${reached.seconds.toFixed(1)} s` : 'never';
    const final = (100 * (result.testAccuracy ?? 0)).toFixed(2);
    console.log(
      `seed ${seed}: > 90% at ${to90}; final ${final}% after ${result.steps} steps, ` +
        `${result.seconds.toFixed(1)} s`,
    );
    if (seed === seeds[0]) console.log(`size ${JSON.stringify(compareSizes(result.model))}`);
    result.model.dispose();
    const leaked = tf.memory().numTensors - tensors;
    if (leaked !== 0) console.log(`seed ${seed}: ${leaked} tensors leaked`);
    failed ||= reached === null || leaked !== 0;
  }
} finally {
  await rm(folder, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
