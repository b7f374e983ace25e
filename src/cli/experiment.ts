/** `bireal experiment`: trains a notebook experiment's variants and records them in results/. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../backend/index.js';
import { defaultReplicas } from '../parallel/replicas.js';
import { EXPERIMENTS, runExperiment } from '../experiments/index.js';
import { Progress } from '../train/progress.js';
import { UsageError, positiveInt } from './usage.js';

/** Usage of `bireal experiment`. */
export const usage = `experiment NAME [--quick] [--seeds 0,1,2] [--variants a,b] [--replicas R] [--runs DIR]
      train every variant (or those of --variants) of a notebook experiment in
      DIR/NAME/ (default runs/experiments; resuming unfinished runs, reusing finished twins; keep
      long runs' checkpoints where they outlive the checkout, e.g. --runs ~/bireal-runs) and record
      config, summary and metrics in results/experiments/NAME/ (not with --quick: a few
      batches at 32 px, nothing recorded); NAME is one of
      ${Object.keys(EXPERIMENTS).join(', ')}`;

/** Runs `bireal experiment` with its arguments (after the command name). */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean' },
      seeds: { type: 'string' },
      variants: { type: 'string' },
      replicas: { type: 'string' },
      runs: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [name] = positionals;
  if (name === undefined || positionals.length > 1) {
    throw new UsageError('experiment needs one NAME');
  }
  if (EXPERIMENTS[name] === undefined) {
    throw new UsageError(
      `unknown experiment '${name}'; valid: ${Object.keys(EXPERIMENTS).join(', ')}`,
    );
  }
  const seeds = values.seeds?.split(',').map((s) => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new UsageError(`--seeds must be non-negative integers, got '${values.seeds}'`);
    }
    return n;
  });
  await initBackend();
  const quick = values.quick ?? false;
  const runs = await runExperiment(name, {
    quick,
    ...(seeds === undefined ? {} : { seeds }),
    ...(values.variants === undefined ? {} : { variants: values.variants.split(',') }),
    replicas: positiveInt('replicas', values.replicas, defaultReplicas()),
    ...(values.runs === undefined ? {} : { runsDir: values.runs }),
    ...(quick ? {} : { recordDir: join('results', 'experiments') }),
    progress: new Progress(),
  });
  for (const r of runs) {
    const { top1, top5 } = r.summary.eval;
    console.log(
      `${name} ${r.variant} seed ${r.seed}: top-1 ${(100 * top1).toFixed(2)}%, top-5 ` +
        `${(100 * top5).toFixed(2)}%, ${r.summary.wallSeconds.toFixed(0)} s`,
    );
  }
}
