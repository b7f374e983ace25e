/**
 * Checkpoints: one self-contained file per checkpoint holding the model (tfjs-layers topology
 * and weights, BatchNorm statistics included), the optimizer state, the recipe, the class names
 * and where training stands. Written atomically (temp file, fsync, rename), so a crash leaves the
 * previous checkpoint intact.
 *
 * Layout: `BIREALCK`, a little-endian uint32 header length, the JSON header, the model's weight
 * bytes, the optimizer's weight bytes (tfjs weight encoding, described by the header's specs).
 */
import { open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { killPoint } from './kill-point.js';
import '../layers/index.js'; // registers the custom layers that checkpoints may contain
import type { InitReport } from '../models/init.js';
import type { ModelName } from '../models/index.js';
import type { Recipe } from './recipe.js';

const MAGIC = 'BIREALCK';
const FORMAT = 1;

/** Top-1 / top-5 of an evaluation, without the details. */
export interface EvalScore {
  n: number;
  top1: number;
  top5: number;
}

/** What happened in one stage of a run. */
export interface StageRecord {
  name: string;
  model: ModelName;
  /** How the stage's model was initialised from the previous stage (null: fresh). */
  init: InitReport | null;
  /** Completed epochs. */
  epochs: number;
  /** Training loss and accuracy of the last completed epoch. */
  train: { loss: number; accuracy: number } | null;
  /** Evaluation after the stage's last epoch. */
  eval: EvalScore | null;
  /** The stage's checkpoint, relative to the run folder. */
  checkpoint: string;
}

/** Where training stands when a checkpoint is written. */
export interface TrainingState {
  /** Index of the current stage in the recipe. */
  stage: number;
  /** Completed epochs of that stage (the next epoch's data order follows from it and the seed). */
  epoch: number;
  /** Completed steps of that stage: the schedule position. */
  step: number;
  /** Seconds spent in training sessions so far. */
  wallSeconds: number;
  /** Length of metrics.jsonl at this point: a resume truncates the file back to it. */
  metricsBytes: number;
  /** The stages so far, the current one last. */
  stages: StageRecord[];
}

/** A named tensor, as tfjs optimizers' getWeights / setWeights exchange them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** The contents of a checkpoint file. */
export interface Checkpoint {
  /** The model, rebuilt from its topology, with its weights. */
  model: tfl.LayersModel;
  /** Optimizer state for `optimizer.setWeights` (the caller disposes the tensors). */
  optimizerWeights: NamedTensor[];
  recipe: Recipe;
  /** Class names in label order. */
  classes: string[];
  state: TrainingState;
}

interface Header {
  format: number;
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightSpecs: tf.io.WeightsManifestEntry[];
  modelBytes: number;
  optimizerBytes: number;
  optimizerSpecs: tf.io.WeightsManifestEntry[];
  recipe: Recipe;
  classes: string[];
  state: TrainingState;
}

/** Writes `chunks` to `path` atomically: a temp file beside it, fsync, then rename. */
export async function writeFileAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  const handle = await open(temp, 'w');
  try {
    for (const [i, chunk] of chunks.entries()) {
      if (i > 0) killPoint(`write:${basename(path)}`);
      await handle.writeFile(chunk);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** Deletes the temp files that {@link writeFileAtomic} left in `dir` when killed mid-write. */
export async function removeLeftoverTemps(dir: string): Promise<void> {
  const names = await readdir(dir);
  await Promise.all(
    names.filter((name) => /\.tmp-\d+$/.test(name)).map((name) => rm(join(dir, name))),
  );
}

async function modelArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return artifacts as tf.io.ModelArtifacts;
}

/**
 * Saves a checkpoint of `model` and `optimizer` to `path` atomically.
 * @param path - the file to write.
 * @param content - the model, its optimizer and where training stands.
 */
export async function saveCheckpoint(
  path: string,
  content: Omit<Checkpoint, 'model' | 'optimizerWeights'> & {
    model: tfl.LayersModel;
    optimizer: tf.Optimizer;
  },
): Promise<void> {
  const artifacts = await modelArtifacts(content.model);
  const modelData = new Uint8Array(
    tf.io.CompositeArrayBuffer.join(artifacts.weightData as tf.io.WeightData),
  );
  const optimizerWeights = await content.optimizer.getWeights();
  // getWeights returns the live slot variables plus a fresh 'iter' scalar, which is ours.
  const encoded = await tf.io.encodeWeights(optimizerWeights);
  tf.dispose(optimizerWeights.filter((w) => w.name === 'iter').map((w) => w.tensor));
  const header: Header = {
    format: FORMAT,
    modelTopology: artifacts.modelTopology,
    weightSpecs: artifacts.weightSpecs as tf.io.WeightsManifestEntry[],
    modelBytes: modelData.byteLength,
    optimizerBytes: encoded.data.byteLength,
    optimizerSpecs: encoded.specs,
    recipe: content.recipe,
    classes: content.classes,
    state: content.state,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.byteLength);
  await writeFileAtomic(path, [
    Buffer.from(MAGIC, 'latin1'),
    length,
    json,
    modelData,
    new Uint8Array(encoded.data),
  ]);
}

/**
 * Loads a checkpoint written by {@link saveCheckpoint}; a damaged file gives a clear error.
 * @param path - the checkpoint file.
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const bytes = await readFile(path);
  const headerStart = MAGIC.length + 4;
  if (bytes.length < headerStart || bytes.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) {
    throw new Error(`${path} is not a bireal checkpoint`);
  }
  const headerEnd = headerStart + bytes.readUInt32LE(MAGIC.length);
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(headerStart, headerEnd).toString('utf8')) as Header;
  } catch {
    throw new Error(`${path}: damaged checkpoint header`);
  }
  if (header.format !== FORMAT)
    throw new Error(`${path}: unknown checkpoint format ${header.format}`);
  const optimizerStart = headerEnd + header.modelBytes;
  if (bytes.byteLength !== optimizerStart + header.optimizerBytes) {
    throw new Error(`${path}: truncated or damaged checkpoint (${bytes.byteLength} bytes)`);
  }
  const slice = (start: number, end: number) =>
    bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + end);
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: header.modelTopology,
      weightSpecs: header.weightSpecs,
      weightData: slice(headerEnd, optimizerStart),
    }),
  );
  const decoded = tf.io.decodeWeights(
    slice(optimizerStart, bytes.byteLength),
    header.optimizerSpecs,
  );
  const optimizerWeights = header.optimizerSpecs.map((spec) => ({
    name: spec.name,
    tensor: decoded[spec.name] as tf.Tensor,
  }));
  return {
    model,
    optimizerWeights,
    recipe: header.recipe,
    classes: header.classes,
    state: header.state,
  };
}
