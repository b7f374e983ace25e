/**
 * Preparing datasets in the cache (default `data/cache/`): from a mirror folder holding the
 * archives, else by downloading the official release (resumable, sha256-verified), extracted
 * atomically (temp folder + rename) and marked complete, so that a second fetch does nothing.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { convertCifarJpeg } from './cifar.js';
import { DataError, messageOf } from './errors.js';

/** One archive a dataset can be prepared from. */
export interface ArchiveEntry {
  file: string;
  sha256: string;
  /** Where to download it; archives without one come only from a mirror folder. */
  url?: string;
  /** How to unpack it, when not simply extracted: `cifar10-jpeg` is converted to the binary format. */
  format?: 'cifar10-jpeg';
  note?: string;
}

/** A fetchable dataset: the layout it is prepared in and its archives, in order of preference. */
export interface DatasetEntry {
  description: string;
  /** Prepared layout: `folders` (train/, val/ ...) or `cifar10-binary` (data_batch_1.bin ...). */
  format: 'folders' | 'cifar10-binary';
  archives: ArchiveEntry[];
  /** Human labels of the class folders. */
  labels?: Record<string, string>;
}

/** Where to prepare datasets and where to find their archives. */
export interface FetchOptions {
  /** Default: env BIREAL_CACHE, else `data/cache` in the bireal checkout (the working directory when installed as a package). */
  cacheDir?: string;
  /** A folder holding the archives; default env BIREAL_DATA_MIRROR. */
  mirror?: string;
  /** Download when no local archive is found; default true. */
  download?: boolean;
  /** The datasets; default `data/datasets.json`. */
  manifest?: Record<string, DatasetEntry>;
}

/** What marks a prepared layout's root inside an extracted archive. */
const MARKER = { folders: 'train', 'cifar10-binary': 'data_batch_1.bin' } as const;
const COMPLETE = '.complete';
/** The package's root folder (computed on use: browsers bundle this module without a file system). */
const packageRoot = (): string => fileURLToPath(new URL('../../..', import.meta.url));

/** The datasets of `data/datasets.json`. */
export function datasetManifest(): Record<string, DatasetEntry> {
  return JSON.parse(readFileSync(join(packageRoot(), 'data', 'datasets.json'), 'utf8')) as Record<
    string,
    DatasetEntry
  >;
}

/** The cache folder: env BIREAL_CACHE, else `data/cache` of this checkout (of the working directory when installed). */
export function defaultCacheDir(): string {
  const root = packageRoot();
  const installed = root.includes(`${sep}node_modules${sep}`);
  return process.env.BIREAL_CACHE ?? join(installed ? process.cwd() : root, 'data', 'cache');
}

/**
 * The sha256 (hex) of a file.
 * @param path - the file.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** A progress bar on stderr, redrawn in place on a terminal; elsewhere a line at start and end. */
function progress(
  label: string,
  total: number,
): { update: (done: number) => void; end: () => void } {
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const tty = process.stderr.isTTY;
  const start = Date.now();
  let [done, drawn] = [0, 0];
  const draw = () => {
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(fraction * 30)).padEnd(30, '.');
    const rate = done / 1e6 / Math.max(1e-3, (Date.now() - start) / 1000);
    const percent = (fraction * 100).toFixed(0).padStart(3);
    process.stderr.write(
      `\r${label} [${bar}] ${percent}% ${mb(done)}/${mb(total)} MB ${rate.toFixed(1)} MB/s`,
    );
  };
  if (!tty) process.stderr.write(`${label}: downloading ${mb(total)} MB\n`);
  return {
    update: (bytes) => {
      done = bytes;
      if (tty && Date.now() - drawn > 100) {
        drawn = Date.now();
        draw();
      }
    },
    end: () => {
      if (tty) draw();
      process.stderr.write(tty ? '\n' : `${label}: done\n`);
    },
  };
}

/**
 * Downloads `url` to `dest`, resuming a partial `dest.part` with an HTTP Range request, and checks
 * its sha256: on a mismatch the download is deleted and a {@link DataError} says so.
 * @param url - where from.
 * @param dest - the file to write.
 * @param sha256 - its expected sha256 (hex).
 */
export async function download(url: string, dest: string, sha256: string): Promise<void> {
  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });
  const have = (await stat(part).catch(() => null))?.size ?? 0;
  const failed = (error: unknown) => {
    const cause = (error as { cause?: unknown }).cause ?? error;
    return new DataError(
      `${url}: download failed (${messageOf(cause)}); run the fetch again to resume`,
    );
  };
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  const response = await fetch(url, { headers }).catch((error: unknown) => {
    throw failed(error);
  });
  // 416 (range not satisfiable): the partial file is already whole; the checksum below tells.
  if (response.status !== 416) {
    if ((response.status !== 200 && response.status !== 206) || response.body === null) {
      throw new DataError(`${url}: HTTP ${response.status} ${response.statusText}`);
    }
    const start = response.status === 206 ? have : 0;
    const bar = progress(basename(dest), start + Number(response.headers.get('content-length')));
    let done = start;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bar.update((done += chunk.length));
        callback(null, chunk);
      },
    });
    await pipeline(
      Readable.fromWeb(response.body as ReadableStream<Uint8Array>),
      count,
      createWriteStream(part, { flags: start > 0 ? 'a' : 'w' }),
    ).catch((error: unknown) => {
      throw failed(error);
    });
    bar.end();
  }
  const actual = await sha256File(part);
  if (actual !== sha256) {
    await rm(part, { force: true });
    throw new DataError(
      `${url}: sha256 mismatch (expected ${sha256}, got ${actual}); the download was deleted, run the fetch again`,
    );
  }
  await rename(part, dest);
}

/** The first archive found in the mirror or the cache's downloads (checksum verified), else downloaded. */
async function findArchive(
  name: string,
  entry: DatasetEntry,
  cacheDir: string,
  options: FetchOptions,
): Promise<{ path: string; archive: ArchiveEntry }> {
  const downloads = join(cacheDir, 'downloads');
  const mirror = options.mirror ?? process.env.BIREAL_DATA_MIRROR;
  for (const archive of entry.archives) {
    for (const folder of [mirror, downloads]) {
      const path = folder === undefined ? null : join(folder, archive.file);
      if (path === null || !existsSync(path)) continue;
      const actual = await sha256File(path);
      if (actual !== archive.sha256) {
        throw new DataError(
          `${path}: sha256 mismatch (expected ${archive.sha256}, got ${actual}): a corrupt or different file`,
        );
      }
      return { path, archive };
    }
  }
  const remote = entry.archives.find((archive) => archive.url !== undefined);
  if (remote?.url === undefined || options.download === false) {
    const files = entry.archives.map((archive) => archive.file).join(' or ');
    const where = mirror === undefined ? 'no mirror folder given' : `not in ${mirror}`;
    throw new DataError(
      `${name} is not prepared in ${cacheDir} (${files}: ${where}); run 'bireal data fetch ${name} [--from DIR]'`,
    );
  }
  const path = join(downloads, remote.file);
  await download(remote.url, path, remote.sha256);
  return { path, archive: remote };
}

/** The folder under `dir` (itself, or down single-folder wrappers) that holds `marker`. */
async function layoutRoot(dir: string, marker: string, archive: string): Promise<string> {
  if (existsSync(join(dir, marker))) return dir;
  const entries = await readdir(dir, { withFileTypes: true });
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only?.isDirectory()) return layoutRoot(join(dir, only.name), marker, archive);
  throw new DataError(`${archive}: unexpected layout (no '${marker}' inside)`);
}

/**
 * Prepares dataset `name` in `cacheDir/name` and returns that folder; does nothing when it is
 * already complete. Throws a {@link DataError} when no archive can be found or one is corrupt.
 * @param name - the dataset, e.g. `imagenette`.
 * @param options - the data cache, a mirror, whether to download.
 */
export async function fetchDataset(name: string, options: FetchOptions = {}): Promise<string> {
  const manifest = options.manifest ?? datasetManifest();
  const entry = manifest[name];
  if (entry === undefined) {
    throw new DataError(
      `unknown dataset '${name}'; fetchable: ${Object.keys(manifest).join(', ')}`,
    );
  }
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const target = join(cacheDir, name);
  if (existsSync(join(target, COMPLETE))) return target;
  const { path, archive } = await findArchive(name, entry, cacheDir, options);
  await mkdir(cacheDir, { recursive: true });
  const temp = await mkdtemp(join(cacheDir, `.${name}-`));
  try {
    process.stderr.write(`${name}: preparing ${target} from ${path}\n`);
    let root = temp;
    if (archive.format === 'cifar10-jpeg') await convertCifarJpeg(path, temp);
    else {
      await tar.x({ file: path, cwd: temp, strict: true });
      root = await layoutRoot(temp, MARKER[entry.format], path);
    }
    const record = {
      archive: archive.file,
      sha256: archive.sha256,
      prepared: new Date().toISOString(),
    };
    await writeFile(join(root, COMPLETE), `${JSON.stringify(record)}\n`);
    // A leftover without the marker is an interrupted old layout: replace it.
    if (existsSync(target) && !existsSync(join(target, COMPLETE)))
      await rm(target, { recursive: true });
    await rename(root, target).catch((error: unknown) => {
      // Another process finished the same dataset first: keep its copy.
      if (!existsSync(join(target, COMPLETE))) throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return target;
}
