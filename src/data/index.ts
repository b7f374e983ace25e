/** Datasets for bireal: sources, decoding, augmentation, batching in worker threads, fetching and checking. */
/** The dataset ↔ trainer contract: splits, batch options, batches, skipped files. */
export type { BadFile, Batch, BatchOptions, DatasetSplit } from './types.js';
/** Opens `NAME:SPLIT` (imagenette, cifar10, mnist, imagenet, folder:PATH:SPLIT) as a {@link DatasetSplit}. */
export { DATASET_SPECS, classLabels, imageStats, openDataset } from './open.js';
/** Where datasets come from (cache, mirror, download, ImageNet folder) and `skipBad`. */
export type { ImageStats, OpenOptions } from './open.js';
/** Prepares a dataset in the cache from a mirror folder or its official download (sha256-checked). */
export { datasetManifest, defaultCacheDir, download, fetchDataset, sha256File } from './fetch.js';
/** The manifest's entries (`data/datasets.json`) and the fetch options. */
export type { ArchiveEntry, DatasetEntry, FetchOptions } from './fetch.js';
/** Decodes every image of an ImageNet-layout folder through both pipelines. */
/** An image file as a model input, transformed as evaluation does. */
export { loadEvalImage, type InputFormat } from './decode.js';
export { verifyFolder } from './verify.js';
/** What `verifyFolder` takes and reports. */
export type { VerifyOptions, VerifyReport } from './verify.js';
/** The error of bad data: missing folders, undecodable images, checksum mismatches. */
export { DataError } from './errors.js';
/** Normalisation statistics of ImageNet (RGB, pixel values in [0, 1]). */
export { IMAGENET_MEAN, IMAGENET_STD } from './augment.js';
/** CIFAR-10's class names in label order. */
export { CIFAR10_CLASSES } from './cifar.js';
