/**
 * Checks the landing page's MNIST demo recipe in Node: writes the demo's assets to a temporary
 * folder, trains the recipe of `site/client/mnist-recipe.ts` on them with the library's wasm
 * backend (one thread) for each seed, and prints steps and seconds to > 90% test accuracy and the
 * final accuracy. Exits with status 1 when a seed misses 90%.
 *
 *   node dist/site/build/mnist-demo-check.js [--seeds 1,2,3] [--KEY VALUE ...]
 *
 * where KEY is a field of `MnistRecipe` (e.g. `--lr 0.003 --blocks 2,2,2`), to try variants.
 */
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

/** Reads one split of the assets as the page does. */
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
    const key = args[i]?.replace(/^--/, '') ?? '';
    const value = args[i + 1] ?? '';
    const numbers = value.split(',').map(Number);
    if (key === 'seeds') seeds = numbers;
    else if (Array.isArray(recipe[key])) recipe[key] = numbers;
    else if (typeof recipe[key] === 'number') recipe[key] = numbers[0];
    else
      throw new Error(`unknown option --${key}; use --seeds or a field of ${Object.keys(recipe)}`);
  }
  return { seeds, recipe: recipe as unknown as MnistRecipe };
}

const { seeds, recipe } = parseArgs(process.argv.slice(2));
await initBackend({ backend: 'wasm', log: false });
const folder = await mkdtemp(join(tmpdir(), 'mnist-demo-'));
try {
  await writeMnistAssets(folder);
  const train = await readSplit(join(folder, 'mnist'), 'train');
  const test = await readSplit(join(folder, 'mnist'), 'test');
  console.log(
    `backend ${describeBackend()}; ${train.labels.length} train, ${test.labels.length} test`,
  );
  console.log(`recipe ${JSON.stringify(recipe)}`);
  let missed = 0;
  for (const seed of seeds) {
    const result = await trainMnist(train, test, {
      recipe: { ...recipe, seed },
      pause: () => new Promise((resolve) => setImmediate(resolve)),
      onStep: (r) => {
        if (r.testAccuracy !== undefined) {
          console.log(
            `  seed ${seed} step ${r.step} ${r.seconds.toFixed(1)} s loss ${r.loss.toFixed(3)} test ${(100 * r.testAccuracy).toFixed(2)}%`,
          );
        }
      },
    });
    const { reached } = result;
    const to90 = reached ? `step ${reached.step}, ${reached.seconds.toFixed(1)} s` : 'never';
    const final = (100 * (result.testAccuracy ?? 0)).toFixed(2);
    console.log(
      `seed ${seed}: > 90% at ${to90}; final ${final}% after ${result.steps} steps, ${result.seconds.toFixed(1)} s`,
    );
    if (seed === seeds[0]) console.log(`size ${JSON.stringify(compareSizes(result.model))}`);
    if (reached === null) missed++;
    result.model.dispose();
  }
  process.exitCode = missed > 0 ? 1 : 0;
} finally {
  await rm(folder, { recursive: true, force: true });
}
