/**
 * Weights to and from PyTorch (`python/bireal_torch`, the companion that trains bireal's recipes
 * on DistributedDataParallel). The two sides trade safetensors files keyed by tfjs weight names in
 * tfjs layouts, with the model name, options, classes and training record as JSON metadata; the
 * Python side converts them from and to torch files (`python3 -m bireal_torch.weights`), so no
 * pickle is read here.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createModel, type ModelName, type ModelOptions } from '../models/index.js';
import type { EvalScore, TrainingState } from './checkpoint.js';
import type { Recipe } from './recipe.js';

/** What a torch file records beside the weights. */
export interface TorchInfo {
  model: ModelName;
  /** The model's options, with classes, inputSize and inputChannels. */
  options: ModelOptions;
  /** Class ids in label order. */
  classes: string[];
  /** The dataset specs it was trained and evaluated on. */
  dataset: { train: string; eval: string };
  recipe?: Recipe;
  state?: TrainingState;
  eval?: EvalScore | null;
}

/** The Python interpreter with PyTorch: env BIREAL_PYTHON, else Debian's `/usr/bin/python3`. */
export function torchPython(): string {
  return process.env.BIREAL_PYTHON ?? '/usr/bin/python3';
}

/**
 * Runs `python3 -m bireal_torch.weights ARGS` with the package on PYTHONPATH; its errors drop the
 * name of the `temp` file (ours, not the caller's).
 */
async function runWeights(args: string[], temp: string): Promise<void> {
  const pythonPath = fileURLToPath(new URL('../../../python', import.meta.url));
  const env = { ...process.env, PYTHONPATH: [pythonPath, process.env.PYTHONPATH].join(':') };
  try {
    await promisify(execFile)(torchPython(), ['-m', 'bireal_torch.weights', ...args], { env });
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: string | number };
    if (code === 'ENOENT') {
      throw new Error(`${torchPython()} not found: install PyTorch (bash scripts/setup.sh)`, {
        cause: error,
      });
    }
    const message =
      stderr
        ?.trim()
        .replace(/^bireal_torch\.weights: /, '')
        .replaceAll(`${temp}: `, '') || String(error);
    throw new Error(message, { cause: error });
  }
}

/** A float32 tensor with its shape, as safetensors stores it. */
interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/** Encodes float32 tensors and string metadata as a safetensors file. */
export function encodeSafetensors(
  tensors: Record<string, RawTensor>,
  metadata: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const blobs = Object.values(tensors).map(({ data }) =>
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  );
  return Buffer.concat([head, Buffer.from(json), ...blobs]);
}

/** Decodes a safetensors file of float32 tensors; `name` labels errors. */
export function decodeSafetensors(
  bytes: Uint8Array,
  name: string,
): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 8) throw new Error(`${name}: not a safetensors file (too short)`);
  const length = Number(buffer.readBigUInt64LE(0));
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buffer.subarray(8, 8 + length).toString('utf8')) as typeof header;
  } catch {
    throw new Error(`${name}: not a safetensors file (bad header)`);
  }
  const { __metadata__: metadata = {}, ...entries } = header as Record<string, unknown>;
  const tensors: Record<string, RawTensor> = {};
  for (const [key, entry] of Object.entries(entries as typeof header)) {
    if (entry.dtype !== 'F32') throw new Error(`${name}: ${key} is ${entry.dtype}, not F32`);
    const [start, end] = entry.data_offsets.map((o) => 8 + length + o) as [number, number];
    const data = new Float32Array(
      buffer.buffer.slice(buffer.byteOffset + start, buffer.byteOffset + end),
    );
    tensors[key] = { shape: entry.shape, data };
  }
  return { tensors, metadata: metadata as Record<string, string> };
}

/** The weights of `model` by tfjs name (`<layer>/<weight>`, e.g. `s1_conv1/kernel`). */
export function namedWeights(model: tfl.LayersModel): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const value = w.read();
      out[`${layer.name}/${w.originalName.split('/').at(-1)}`] = {
        shape: [...value.shape],
        data: (value.dataSync() as Float32Array).slice(),
      };
    }
  }
  return out;
}

/** Sets every weight of `model` from tfjs-named tensors; a missing, extra or misshapen one throws. */
export function setNamedWeights(
  model: tfl.LayersModel,
  tensors: Record<string, RawTensor>,
  source: string,
): void {
  const unused = new Set(Object.keys(tensors));
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const key = `${layer.name}/${w.originalName.split('/').at(-1)}`;
      const tensor = tensors[key];
      if (tensor === undefined) throw new Error(`${source}: no weight ${key}`);
      if (JSON.stringify(tensor.shape) !== JSON.stringify(w.shape)) {
        throw new Error(`${source}: ${key} has shape [${tensor.shape}], expected [${w.shape}]`);
      }
      unused.delete(key);
      return tf.tensor(tensor.data, tensor.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  if (unused.size > 0) {
    throw new Error(`${source}: weights the model does not have: ${[...unused].join(', ')}`);
  }
}

/** Runs `work` with a fresh temporary folder, removed afterwards. */
async function withTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bireal-torch-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `model` and `info` as a torch file (a dict with `state_dict`, see bireal_torch.weights). */
export async function writeTorchFile(
  path: string,
  model: tfl.LayersModel,
  info: TorchInfo,
): Promise<void> {
  await withTempDir(async (dir) => {
    const temp = join(dir, 'weights.safetensors');
    await writeFile(temp, encodeSafetensors(namedWeights(model), { bireal: JSON.stringify(info) }));
    await runWeights(['to-torch', temp, path], temp);
  });
}

/** Reads a torch file of bireal_torch (trainer checkpoint or export) into a tfjs model. */
export async function readTorchFile(
  path: string,
): Promise<{ model: tfl.LayersModel; info: TorchInfo }> {
  return withTempDir(async (dir) => {
    const temp = join(dir, 'weights.safetensors');
    await runWeights(['from-torch', path, temp], temp);
    const { tensors, metadata } = decodeSafetensors(await readFile(temp), path);
    const info = JSON.parse(metadata['bireal'] ?? 'null') as TorchInfo;
    const model = createModel(info.model, info.options);
    try {
      setNamedWeights(model, tensors, path);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return { model, info };
  });
}
