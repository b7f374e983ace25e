/** `bireal data verify`: every image of an ImageNet-layout folder through both pipelines. */
import { join } from 'node:path';
import { DataError } from './errors.js';
import { listSplits } from './folder.js';
import { openDataset } from './open.js';
import type { BadFile } from './types.js';

/** Counts per split, and every bad file or class folder with the reason. */
export interface VerifyReport {
  splits: { split: string; classes: number; images: number; bad: number }[];
  bad: BadFile[];
}

/** How to verify: the pipelines' output size, and worker threads. */
export interface VerifyOptions {
  imageSize?: number;
  workers?: number;
}

/**
 * Decodes every image of `root/SPLIT/<class>/*` (every split) through the training and the
 * evaluation pipelines and reports what could not be used (a split without class folders
 * included); throws only when `root` is no such folder.
 * @param root - the dataset folder.
 * @param options - how many images at most, progress output.
 */
export async function verifyFolder(
  root: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const splits = await listSplits(root);
  if (splits.length === 0)
    throw new DataError(`${root}: no split folders (expected ROOT/SPLIT/<class>/<image>)`);
  const report: VerifyReport = { splits: [], bad: [] };
  const { imageSize = 224, workers } = options;
  for (const split of splits) {
    const path = join(root, split);
    const data = await openDataset(`folder:${root}:${split}`, { skipBad: true }).catch(
      (error: unknown) => {
        if (!(error instanceof DataError)) throw error;
        const reason = error.message.replace(`${path}: `, '');
        report.splits.push({ split, classes: 0, images: 0, bad: 1 });
        report.bad.push({ path, reason });
        return null;
      },
    );
    if (data === null) continue;
    try {
      for (const augment of [true, false]) {
        const batches = data.batches({ batchSize: 32, imageSize, augment, seed: 0, workers }, 0);
        for await (const batch of batches) void batch;
      }
    } finally {
      await data.close();
    }
    const bad = [...data.skipped].sort((a, b) => (a.path < b.path ? -1 : 1));
    report.splits.push({ split, classes: data.classes.length, images: data.size, bad: bad.length });
    report.bad.push(...bad);
  }
  return report;
}
