/**
 * `bireal export`, `bireal import` and `bireal infer`: the compact deploy file, the packed engine
 * and weights to and from PyTorch.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { costSummary } from '../analysis/summary.js';
import { loadEvalImage } from '../data/decode.js';
import { classLabels, imageStats } from '../data/open.js';
import { exportModel } from '../engine/export.js';
import { decodeDeployFile } from '../engine/format.js';
import { ONNX_OPSET, deployToOnnx } from '../engine/onnx.js';
import { PackedNet } from '../engine/runtime.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { modelInputShape } from '../train/evaluate.js';
import { createOptimizer } from '../train/optimizer.js';
import { readTorchFile, writeTorchFile } from '../train/torch.js';
import { checkpointArgument } from './eval.js';
import { UsageError, positiveInt } from './usage.js';

/** Usage of `bireal export`. */
export const exportUsage = `export (--run DIR | --checkpoint PATH | --model FILE.bireal) --out FILE [--format bireal|onnx|torch]
      writes the trained model as a compact deploy file for \`bireal infer\` and the site:
      1-bit weights packed 8 per byte, BatchNorm folded, real layers in float32. --format onnx
      writes an ONNX model instead (opset ${ONNX_OPSET}, NHWC input, logits out) for ONNX Runtime;
      with --model it converts an existing deploy file. --format torch writes a PyTorch file
      (a dict with the state_dict) for python/bireal_torch (needs PyTorch, see docs/distributed.md)`;

/** Usage of `bireal import`. */
export const importUsage = `import --torch FILE.pt --out FILE.bireal|FILE.ckpt
      brings a model trained by python/bireal_torch (a checkpoint of its trainer, or a file of
      \`bireal export --format torch\`) back: as a deploy file (.bireal) for \`bireal infer\`,
      \`bireal eval --model\` and the site, or as a bireal checkpoint (.ckpt, without the
      optimizer's state) for \`bireal eval --checkpoint\``;

/** What `bireal export` writes. */
const EXPORT_FORMATS = ['bireal', 'onnx', 'torch'];

/** Usage of `bireal infer`. */
export const inferUsage = `infer --model FILE [--top 5] [--json] IMAGE...
      classifies JPEG/PNG images with the packed 1-bit engine (WebAssembly, one thread):
      the top classes with their probabilities`;

/** Runs `bireal export`. */
export async function runExport(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string', default: 'bireal' },
    },
    strict: true,
  });
  const { out, format } = values;
  if (out === undefined) throw new UsageError('export needs --out FILE');
  if (!EXPORT_FORMATS.includes(format)) {
    throw new UsageError(`unknown --format '${format}'; valid: ${EXPORT_FORMATS.join(', ')}`);
  }
  if (format === 'torch') {
    if (values.model !== undefined) {
      throw new UsageError(
        `--format torch needs --run or --checkpoint: a deploy file has BatchNorm folded`,
      );
    }
    await exportTorch(await checkpointArgument('export', values), out);
    return;
  }
  let deploy: { bytes: Uint8Array; name: string; about: string };
  if (values.model !== undefined) {
    if (values.run !== undefined || values.checkpoint !== undefined) {
      throw new UsageError('export takes one of --run DIR, --checkpoint PATH or --model FILE');
    }
    if (format !== 'onnx') {
      throw new UsageError(`${values.model} is a deploy file already: --format onnx converts it`);
    }
    const bytes = await readFile(values.model).catch(() => {
      throw new UsageError(`no such model file: ${values.model}`);
    });
    deploy = { bytes, name: values.model, about: `from ${values.model}` };
  } else {
    deploy = await exportCheckpoint(await checkpointArgument('export', values));
  }
  if (format === 'bireal') {
    await writeFile(out, deploy.bytes);
    console.log(`${out}: ${megabytes(deploy.bytes)} MB (${deploy.about})`);
    return;
  }
  const file = decodeDeployFile(deploy.bytes, deploy.name);
  const onnx = deployToOnnx(file);
  await writeFile(out, onnx);
  const [height, width, channels] = file.header.inputShape;
  const binary = file.header.ops.some((op) => op.op === 'binaryConv');
  console.log(
    `${out}: ${megabytes(onnx)} MB ONNX, opset ${ONNX_OPSET} (${file.header.model}; input ` +
      `[batch, ${height}, ${width}, ${channels}] float32 NHWC, output 'logits'` +
      `${binary ? '; 1-bit convs as float convs of ±1 values' : ''}; ${deploy.about})`,
  );
}

const megabytes = (bytes: Uint8Array) => (bytes.length / 1e6).toFixed(2);

/** What a deploy file records of a model's training. */
interface TrainedModel {
  model: tfl.LayersModel;
  /** The registry name and options of the model (those of its recipe stage). */
  name: string;
  options: Record<string, unknown>;
  /** The dataset spec it was trained on, and its class ids. */
  train: string;
  classes: string[];
  /** Where it comes from (checkpoint or torch file, recipe, eval dataset, epochs, eval). */
  source: Record<string, unknown>;
}

/** The deploy file of a trained model, and a line about it. */
function deployOf(trained: TrainedModel): { bytes: Uint8Array; about: string } {
  const { model, name, classes } = trained;
  const [size, , channels] = modelInputShape(model);
  const stats = imageStats(trained.train);
  const bytes = exportModel(model, {
    model: name,
    modelOptions: trained.options,
    preprocessing: {
      size,
      channels: channels as 1 | 3,
      mean: [...stats.mean],
      std: [...stats.std],
      resizeRatio: stats.resizeRatio,
    },
    labels: classLabels(trained.train, classes),
    source: trained.source,
  });
  const float = costSummary(model).params * 4;
  const versus =
    bytes.length < 0.9 * float
      ? `float32 weights would take ${(float / 1e6).toFixed(2)} MB, ${(float / bytes.length).toFixed(1)}x more`
      : 'a real-valued model: float32 weights';
  return { bytes, about: `${name}, ${size}x${size}, ${classes.length} classes; ${versus}` };
}

/** The deploy file of a checkpoint, and a line about it. */
async function exportCheckpoint(
  path: string,
): Promise<{ bytes: Uint8Array; name: string; about: string }> {
  await initBackend({ log: false });
  const { model, optimizerWeights, recipe, classes, state } = await loadCheckpoint(path);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  try {
    const stage = recipe.stages[state.stage];
    const deploy = deployOf({
      model,
      name: stage?.model.name ?? model.name,
      options: stage?.model.options ?? {},
      train: recipe.dataset.train,
      classes,
      source: {
        checkpoint: basename(path),
        recipe: recipe.name,
        dataset: recipe.dataset.eval,
        epochs: state.stages.map((s) => `${s.name}: ${s.epochs}`).join(', '),
        eval: state.stages.at(-1)?.eval ?? null,
      },
    });
    return { ...deploy, name: basename(path) };
  } finally {
    model.dispose();
  }
}

/** `bireal export --format torch`: a checkpoint's model as a torch file. */
async function exportTorch(path: string, out: string): Promise<void> {
  await initBackend({ log: false });
  const { model, optimizerWeights, recipe, classes, state } = await loadCheckpoint(path);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  try {
    const stage = recipe.stages[state.stage];
    if (stage === undefined) throw new Error(`${path}: its state names no stage of its recipe`);
    const [inputSize, , inputChannels] = modelInputShape(model);
    await writeTorchFile(out, model, {
      model: stage.model.name,
      options: { ...stage.model.options, classes: classes.length, inputSize, inputChannels },
      classes,
      dataset: { train: recipe.dataset.train, eval: recipe.dataset.eval },
      recipe,
      state,
      eval: state.stages.at(-1)?.eval ?? null,
    });
    console.log(`${out}: PyTorch file of ${stage.model.name} (stage '${stage.name}' of ${path})`);
  } finally {
    model.dispose();
  }
}

/** The model options that the dataset fixes rather than the recipe. */
const SHAPE_OPTIONS = ['classes', 'inputSize', 'inputChannels'];

/** Runs `bireal import`. */
export async function runImport(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { torch: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const { torch, out } = values;
  if (torch === undefined || out === undefined) {
    throw new UsageError('import needs --torch FILE and --out FILE.bireal|FILE.ckpt');
  }
  const kind = /\.(bireal|ckpt)$/.exec(out)?.[1];
  if (kind === undefined) throw new UsageError(`--out must end in .bireal or .ckpt, got ${out}`);
  await initBackend({ log: false });
  const { model, info } = await readTorchFile(torch);
  try {
    if (kind === 'bireal') {
      // The recipe's options: classes and input shape are in the deploy file's own fields.
      const options = Object.fromEntries(
        Object.entries(info.options).filter(([key]) => !SHAPE_OPTIONS.includes(key)),
      );
      const { bytes, about } = deployOf({
        model,
        name: info.model,
        options,
        train: info.dataset.train,
        classes: info.classes,
        source: {
          torch: basename(torch),
          recipe: info.recipe?.name ?? null,
          dataset: info.dataset.eval,
          epochs: info.state?.stages.map((s) => `${s.name}: ${s.epochs}`).join(', ') ?? null,
          eval: info.eval ?? null,
        },
      });
      await writeFile(out, bytes);
      console.log(`${out}: ${megabytes(bytes)} MB (${about}; from ${torch})`);
      return;
    }
    const { recipe, state } = info;
    const stage = state && recipe?.stages[state.stage];
    if (!recipe || !state || !stage) {
      throw new Error(`${torch} has no recipe and training state: import it as a .bireal file`);
    }
    const optimizer = createOptimizer(stage.optimizer, stage.optimizer.lr);
    try {
      await saveCheckpoint(out, { model, optimizer, recipe, classes: info.classes, state });
    } finally {
      optimizer.dispose();
    }
    console.log(
      `${out}: bireal checkpoint of ${info.model} (stage '${stage.name}'; from ${torch})`,
    );
  } finally {
    model.dispose();
  }
}

/** Runs `bireal infer`. */
export async function runInfer(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { model: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.model === undefined) throw new UsageError('infer needs --model FILE');
  if (positionals.length === 0) throw new UsageError('infer needs at least one IMAGE');
  const top = positiveInt('top', values.top, 5);
  let bytes: Buffer;
  try {
    bytes = await readFile(values.model);
  } catch {
    throw new UsageError(`no such model file: ${values.model}`);
  }
  const net = await PackedNet.load(bytes, undefined, values.model);
  const results = [];
  for (const path of positionals) {
    const input = await loadEvalImage(path, net.header.preprocessing);
    const start = performance.now();
    const logits = net.run(input);
    const ms = performance.now() - start;
    results.push({ image: path, ms, top: net.top(logits, top) });
  }
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  for (const { image, ms, top: predictions } of results) {
    console.log(`${image} (${ms.toFixed(1)} ms)`);
    for (const p of predictions) {
      console.log(`  ${(100 * p.probability).toFixed(1).padStart(5)}%  ${p.label}`);
    }
  }
}
