/**
 * `bireal/notebook` in the browser: the same helpers, except that the backend is tfjs in this
 * page and experiments come from the recorded runs the site ships (results/experiments/, as
 * full mode shows them); nothing trains behind the reader's back.
 */
import type { ExperimentRun } from '../../src/experiments/index.js';
import { assetUrl } from './base.js';
import { loadLibrary } from './tf.js';

export * from '../../src/notebook/index.js';

export async function startNotebook(): Promise<void> {
  const library = await loadLibrary();
  console.log(`backend: ${library.describeBackend()} in this browser; experiments: recorded runs`);
}

export async function experimentRuns(name: string): Promise<ExperimentRun[]> {
  const url = assetUrl(`results/experiments/${encodeURIComponent(name)}.json`);
  const response = await fetch(url);
  if (!response.ok)
    throw new Error(`no recorded runs of experiment '${name}' (${url}: ${response.status})`);
  return (await response.json()) as ExperimentRun[];
}
