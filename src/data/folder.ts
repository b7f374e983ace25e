/** The ImageNet folder layout: ROOT/SPLIT/<class>/<image>, classes = sorted folder names. */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { DataError } from './errors.js';
import type { BadFile } from './types.js';

/** File extensions taken as images (case-insensitive); other files are ignored. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.jpe', '.png'];
/** Sibling splits whose class folders also count, so that labels agree across splits. */
const SPLITS = ['train', 'val', 'test'];
const LAYOUT = 'ROOT/SPLIT/<class>/<image>';

/** The examples of one split, and the class folders that are missing or hold no image. */
export interface FolderListing {
  classes: string[];
  paths: string[];
  targets: Int32Array;
  problems: BadFile[];
}

async function folders(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
}

async function images(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => !entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .filter((name) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()))
    .sort();
}

/** The splits (subfolders) of an ImageNet-layout root; a {@link DataError} if it is not a folder. */
export async function listSplits(root: string): Promise<string[]> {
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) {
    throw new DataError(`${root}: no such folder (expected an ImageNet-layout folder ${LAYOUT})`);
  }
  return folders(root);
}

/**
 * Lists `root/split`: classes are the sorted union of the class folders of this split and of
 * train/val/test beside it; a class folder that is missing or has no image is a problem.
 */
export async function listFolder(root: string, split: string): Promise<FolderListing> {
  const splits = await listSplits(root);
  if (!splits.includes(split)) {
    const found = splits.length ? splits.join(', ') : 'no folders';
    throw new DataError(`${root}: no '${split}' folder (expected ${LAYOUT}; found ${found})`);
  }
  const siblings = splits.filter((name) => name === split || SPLITS.includes(name));
  const classes = [
    ...new Set((await Promise.all(siblings.map((name) => folders(join(root, name))))).flat()),
  ].sort();
  if (classes.length === 0) {
    throw new DataError(`${join(root, split)}: no class folders (expected ${LAYOUT})`);
  }
  const paths: string[] = [];
  const targets: number[] = [];
  const problems: BadFile[] = [];
  const listed = await Promise.all(classes.map((name) => images(join(root, split, name))));
  listed.forEach((files, label) => {
    const folder = join(root, split, classes[label] as string);
    if (files.length === 0) {
      problems.push({
        path: folder,
        reason: 'empty or missing class folder (expected .jpg, .jpeg or .png images)',
      });
    }
    for (const file of files) {
      paths.push(join(folder, file));
      targets.push(label);
    }
  });
  return { classes, paths, targets: Int32Array.from(targets), problems };
}
