/** `bireal train`: trains a recipe (configs/*.json) into a run folder. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../backend/index.js';
import { defaultReplicas } from '../parallel/replicas.js';
import { formatDuration } from '../train/progress.js';
import { loadRecipe, withOverrides } from '../train/recipe.js';
import { train } from '../train/trainer.js';
import { UsageError, positiveInt } from './usage.js';

/** Usage of `bireal train`. */
export const usage = `train --config FILE [--epochs N] [--out runs/NAME] [--resume] [--seed S] [--limit-batches K] [--replicas R]
      train a recipe into a run folder (default runs/<recipe name>): progress on stderr,
      metrics.jsonl, a checkpoint per epoch, summary.json with the final evaluation;
      --resume continues the run in --out from its last checkpoint (--config may then be left
      out); --epochs sets every stage's epochs; --limit-batches caps the batches of each epoch
      and evaluation (smoke runs); --replicas splits each batch over R threads (data-parallel,
      same training up to float rounding; default 1 with the native kernels, whose threads use
      every core, else the number of CPU cores, at most 2)`;

function seedOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new UsageError(`--seed must be a non-negative integer, got '${value}'`);
  }
  return n;
}

/** Runs `bireal train` with its arguments (after the command name). */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      epochs: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      seed: { type: 'string' },
      'limit-batches': { type: 'string' },
      replicas: { type: 'string' },
    },
    strict: true,
  });
  const overrides = {
    epochs: values.epochs === undefined ? undefined : positiveInt('epochs', values.epochs, 1),
    seed: seedOf(values.seed),
    limitBatches:
      values['limit-batches'] === undefined
        ? undefined
        : positiveInt('limit-batches', values['limit-batches'], 1),
  };
  const resume = values.resume ?? false;
  let configPath = values.config;
  if (configPath === undefined) {
    if (!resume || values.out === undefined) {
      throw new UsageError('train needs --config FILE (or --resume --out DIR)');
    }
    configPath = join(values.out, 'config.json');
  }
  if (!existsSync(configPath)) throw new UsageError(`no such config file: ${configPath}`);
  const recipe = withOverrides(await loadRecipe(configPath), overrides);
  const out = values.out ?? join('runs', recipe.name);
  await initBackend();
  const replicas = positiveInt('replicas', values.replicas, defaultReplicas());
  const summary = await train(recipe, { out, resume, replicas });
  const { dataset, n, top1, top5 } = summary.eval;
  console.log(
    `${recipe.name}: ${dataset} top-1 ${(100 * top1).toFixed(2)}%, top-5 ` +
      `${(100 * top5).toFixed(2)}% (n=${n}), ${formatDuration(summary.wallSeconds)}; run folder ${out}`,
  );
}
