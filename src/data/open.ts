/** `openDataset('NAME:SPLIT')`: the named datasets and user folders behind one contract. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGENET_MEAN, IMAGENET_STD } from './augment.js';
import { CIFAR10_CLASSES, CIFAR10_FILES, readCifarBinary } from './cifar.js';
import { DataError } from './errors.js';
import { datasetManifest, defaultCacheDir, fetchDataset } from './fetch.js';
import { listFolder } from './folder.js';
import { readMnist } from './mnist.js';
import { createSplit } from './split.js';
import type { DatasetSplit } from './types.js';

/** Where datasets come from and how strictly they are read. */
export interface OpenOptions {
  /** The dataset cache; default env BIREAL_CACHE, else `data/cache`. */
  cacheDir?: string;
  /** A folder of archives to prepare missing datasets from; default env BIREAL_DATA_MIRROR. */
  mirror?: string;
  /** Download a missing dataset (imagenette, cifar10) from its official source; default false. */
  download?: boolean;
  /** The ImageNet folder (ROOT/train|val/<wnid>/*.JPEG) of `imagenet:SPLIT`; default env BIREAL_IMAGENET. */
  imagenet?: string;
  /** Skip (and list in `skipped`) empty class folders and undecodable images instead of failing. */
  skipBad?: boolean;
  /** Only these classes (ids or labels), relabelled 0, 1, ... in this order; default all. */
  classes?: readonly string[];
}

/** The dataset specs `openDataset` accepts. */
export const DATASET_SPECS = [
  'imagenette:train|val',
  'cifar10:train|test',
  'mnist:train|test',
  'imagenet:train|val',
  'folder:PATH:SPLIT',
] as const;

const SPLITS: Record<string, string[]> = {
  imagenette: ['train', 'val'],
  cifar10: ['train', 'test'],
  mnist: ['train', 'test'],
  imagenet: ['train', 'val'],
};
/** How a dataset's images are normalised (pixel values in [0, 1]) and resized for evaluation. */
export interface ImageStats {
  channels: 1 | 3;
  mean: readonly number[];
  std: readonly number[];
  /** Evaluation resizes the shorter side to imageSize * resizeRatio, then centre-crops. */
  resizeRatio: number;
}

const PHOTOS: ImageStats = {
  channels: 3,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  resizeRatio: 256 / 224, // resize to 256, crop 224
};
const CIFAR10: ImageStats = {
  channels: 3,
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.247, 0.2435, 0.2616],
  resizeRatio: 1,
};
const MNIST: ImageStats = { channels: 1, mean: [0.1307], std: [0.3081], resizeRatio: 1 };

/**
 * The {@link ImageStats} of a dataset spec (`NAME:SPLIT`), known without opening it.
 * @param spec - the dataset spec.
 */
export function imageStats(spec: string): ImageStats {
  const name = spec.split(':')[0];
  return name === 'cifar10' ? CIFAR10 : name === 'mnist' ? MNIST : PHOTOS;
}
const CLASSES_TSV = 'imagenet-classes.tsv';

/** wnid → label from the first `imagenet-classes.tsv` (index, wnid, label) found in `folders`. */
function imagenetLabels(folders: (string | undefined)[]): Record<string, string> {
  const file = folders
    .filter((folder) => folder !== undefined)
    .map((folder) => join(folder, CLASSES_TSV))
    .find((path) => existsSync(path));
  if (file === undefined) return {};
  const rows = readFileSync(file, 'utf8').trim().split('\n').slice(1);
  return Object.fromEntries(rows.map((row) => row.split('\t').slice(1, 3) as [string, string]));
}

async function openFolder(
  id: string,
  root: string,
  split: string,
  options: OpenOptions,
  labels: Record<string, string>,
): Promise<DatasetSplit> {
  const { classes, paths, targets, problems } = await listFolder(root, split);
  if (problems.length > 0 && !options.skipBad) {
    const list = problems.map((problem) => `${problem.path}: ${problem.reason}`).join('\n  ');
    throw new DataError(
      `${id}: ${problems.length} bad class folder(s) (use skipBad to skip them):\n  ${list}`,
    );
  }
  return createSplit({
    id,
    classes,
    labels: classes.map((name) => labels[name] ?? name),
    ...PHOTOS,
    source: { kind: 'files' },
    paths,
    targets,
    skipped: problems,
    skipBad: options.skipBad ?? false,
    keep: options.classes,
  });
}

/**
 * Human-readable labels of `classes` (folder names such as ImageNet wnids) of a dataset spec.
 * @param spec - the dataset spec, e.g. `imagenette:val`.
 * @param classes - the class folder names.
 * @param options - where the data cache is.
 */
export function classLabels(spec: string, classes: string[], options: OpenOptions = {}): string[] {
  const [name = '', ...rest] = spec.split(':');
  const mirror = options.mirror ?? process.env.BIREAL_DATA_MIRROR;
  const labels =
    name === 'imagenette'
      ? (datasetManifest().imagenette?.labels ?? {})
      : name === 'imagenet' || name === 'folder'
        ? imagenetLabels([
            name === 'folder' ? rest.slice(0, -1).join(':') : undefined,
            options.imagenet ?? process.env.BIREAL_IMAGENET,
            mirror,
            options.cacheDir ?? defaultCacheDir(),
          ])
        : {};
  return classes.map((c) => labels[c] ?? c);
}

/**
 * Opens a dataset split: `imagenette:train|val`, `cifar10:train|test`, `mnist:train|test`,
 * `imagenet:train|val` or `folder:PATH:SPLIT` (an ImageNet-layout folder PATH/SPLIT/<class>/*).
 * Imagenette and CIFAR-10 are prepared in the cache first when a mirror (or `download`) allows.
 * @param spec - the split (above).
 * @param options - the data cache, a mirror, whether to download, image size.
 */
export async function openDataset(spec: string, options: OpenOptions = {}): Promise<DatasetSplit> {
  const [name = '', ...rest] = spec.split(':');
  const mirror = options.mirror ?? process.env.BIREAL_DATA_MIRROR;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const skipBad = options.skipBad ?? false;
  if (name === 'folder') {
    const split = rest.pop();
    const path = rest.join(':');
    if (!path || !split) throw new DataError(`expected folder:PATH:SPLIT, got '${spec}'`);
    return openFolder(spec, path, split, options, imagenetLabels([path, mirror, cacheDir]));
  }
  const split = rest.join(':');
  const splits = SPLITS[name];
  if (splits === undefined) {
    throw new DataError(`unknown dataset '${spec}'; valid: ${DATASET_SPECS.join(', ')}`);
  }
  if (!splits.includes(split)) {
    throw new DataError(`${name} has the splits ${splits.join(', ')}; got '${spec}'`);
  }
  const prepare = () =>
    fetchDataset(name, { cacheDir, mirror, download: options.download ?? false });
  if (name === 'imagenette') {
    const labels = datasetManifest().imagenette?.labels ?? {};
    return openFolder(spec, await prepare(), split, options, labels);
  }
  if (name === 'imagenet') {
    const root = options.imagenet ?? process.env.BIREAL_IMAGENET;
    if (root === undefined) {
      throw new DataError(
        'imagenet needs its folder: set BIREAL_IMAGENET (or options.imagenet) to ROOT of ROOT/train|val/<wnid>/*.JPEG',
      );
    }
    return openFolder(spec, root, split, options, imagenetLabels([root, mirror, cacheDir]));
  }
  const common = { id: spec, skipBad, keep: options.classes };
  if (name === 'cifar10') {
    const dir = await prepare();
    const { pixels, targets } = await readCifarBinary(
      (CIFAR10_FILES[split] ?? []).map((file) => join(dir, file)),
    );
    return createSplit({
      ...common,
      classes: CIFAR10_CLASSES,
      labels: CIFAR10_CLASSES,
      ...CIFAR10,
      source: { kind: 'memory', pixels, width: 32, height: 32, channels: 3 },
      targets,
    });
  }
  const { pixels, targets, side } = await readMnist(split);
  const digits = Array.from({ length: 10 }, (_, i) => String(i));
  return createSplit({
    ...common,
    classes: digits,
    labels: digits,
    ...MNIST,
    source: { kind: 'memory', pixels, width: side, height: side, channels: 1 },
    targets,
  });
}
