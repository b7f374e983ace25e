/**
 * The trainer: runs a recipe's stages one after the other in one run folder, checkpointing after
 * every epoch, resumable, stopping cleanly when the loss diverges.
 *
 * The run folder holds `config.json` (the recipe as run), `metrics.jsonl` (one JSON object per
 * line, `type` one of start, stage, step, epoch, eval, diverged, end; epochs and steps count from
 * 1 within their stage), `checkpoints/<n>-<stage>.ckpt` (rewritten atomically after each epoch of
 * stage n, so the last one of each stage is its final checkpoint) and, at the end,
 * `summary.json` (seed, git commit, backend, wall time, stages, final evaluation).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, statSync, truncateSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describeBackend } from '../backend/index.js';
import { openDataset, type OpenOptions } from '../data/index.js';
import type { Batch, BatchOptions, DatasetSplit } from '../data/types.js';
import { BinaryConv2D } from '../layers/index.js';
import { createModel } from '../models/index.js';
import { initFromReal } from '../models/init.js';
import {
  loadCheckpoint,
  saveCheckpoint,
  removeLeftoverTemps,
  writeFileAtomic,
  type NamedTensor,
  type StageRecord,
  type TrainingState,
} from './checkpoint.js';
import {
  batchImages,
  checkBatchShape,
  evaluate,
  modelInputShape,
  type EvalResult,
} from './evaluate.js';
import { createOptimizer, type ScheduledOptimizer } from './optimizer.js';
import { createDataParallelTrainStep, type DataParallelTrainStep } from '../parallel/replicas.js';
import { Progress, formatDuration } from './progress.js';
import { parseRecipe, type Recipe, type StageSpec } from './recipe.js';
import { learningRate } from './schedule.js';
import {
  DivergedError,
  createMeasuredTrainStep,
  type MeasuredTrainStep,
  type StepResult,
} from './step.js';

/** Opens a dataset split by spec, e.g. `cifar10:test` (the data module's `openDataset`). */
export type OpenDataset = (spec: string, options?: OpenOptions) => Promise<DatasetSplit>;

/** Options of {@link train}. */
export interface TrainOptions {
  /** The run folder (created if needed). */
  out: string;
  /** Continue the run in `out` from its last checkpoint; its config.json must equal the recipe. */
  resume?: boolean;
  /** Opens dataset splits; default: the data module's `openDataset` (env BIREAL_DATA_MIRROR etc.). */
  openDataset?: OpenDataset;
  /** Progress display; default: on stderr; null: none. */
  progress?: Progress | null;
  /**
   * Threads that train together on each batch, split between them (data-parallel, with
   * BatchNorm statistics and gradients summed over all: the same training as 1 up to float
   * rounding); default 1.
   */
  replicas?: number;
}

/** The contents of summary.json. */
export interface RunSummary {
  recipe: string;
  seed: number;
  /** `git rev-parse HEAD` of the working directory, or "unknown". */
  commit: string;
  /** The tfjs backend, as `describeBackend()` gives it. */
  backend: string;
  /** Data-parallel threads of the last session (absent in runs recorded before they existed). */
  replicas?: number;
  /** Seconds spent training and evaluating, summed over all sessions of the run. */
  wallSeconds: number;
  dataset: { train: string; eval: string; imageSize: number; classes: number };
  stages: StageRecord[];
  /** The final model on the eval split. */
  eval: EvalResult;
}

/** The signs (w >= 0) of every binary conv kernel of `model`; undefined if it has none. */
function binaryWeightSigns(model: tfl.LayersModel): Uint8Array | undefined {
  const kernels = model.layers
    .filter((layer) => layer instanceof BinaryConv2D)
    .map((layer) => layer.getWeights()[0] as tf.Tensor);
  if (kernels.length === 0) return undefined;
  const values = kernels.map((k) => k.dataSync());
  const signs = new Uint8Array(values.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of values) {
    for (let i = 0; i < v.length; i++) signs[offset + i] = (v[i] as number) >= 0 ? 1 : 0;
    offset += v.length;
  }
  return signs;
}

/** Fraction of binary weights whose sign differs between two {@link binaryWeightSigns}. */
function signFlipRate(before: Uint8Array, after: Uint8Array): number {
  let flips = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) flips++;
  return flips / before.length;
}

/** The loss became NaN or infinite: the message names the step, stage, epoch and last checkpoint. */
export class TrainingDivergedError extends Error {}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** The checkpoint of stage `index`, relative to the run folder. */
function checkpointName(index: number, stage: StageSpec): string {
  return join('checkpoints', `${index + 1}-${stage.name}.ckpt`);
}

/** The newest checkpoint of a run (that of its latest stage), if any. */
export function latestCheckpoint(dir: string, recipe: Recipe): string | undefined {
  return recipe.stages
    .map((stage, i) => join(dir, checkpointName(i, stage)))
    .reverse()
    .find((path) => existsSync(path));
}

function labelsOneHot(batch: Batch, classes: number): tf.Tensor2D {
  return tf.tidy(
    () => tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), classes), 'float32') as tf.Tensor2D,
  );
}

function percent(fraction: number): string {
  return `${(100 * fraction).toFixed(1)}%`;
}

class Trainer {
  private state: TrainingState = {
    stage: 0,
    epoch: 0,
    step: 0,
    wallSeconds: 0,
    metricsBytes: 0,
    stages: [],
  };
  private model: tfl.LayersModel | undefined;
  /** The last checkpoint written or loaded, described for error messages. */
  private lastCheckpoint: string | undefined;
  private readonly sessionStart = performance.now();
  private wallBefore = 0;
  private readonly metricsPath: string;

  constructor(
    private readonly recipe: Recipe,
    private readonly dir: string,
    private readonly trainSplit: DatasetSplit,
    private readonly evalSplit: DatasetSplit,
    private readonly progress: Progress | null,
    private readonly replicas: number,
  ) {
    this.metricsPath = join(dir, 'metrics.jsonl');
  }

  private log(entry: Record<string, unknown>): void {
    appendFileSync(this.metricsPath, `${JSON.stringify(entry)}\n`);
  }

  private wallSeconds(): number {
    return this.wallBefore + (performance.now() - this.sessionStart) / 1000;
  }

  /** Loads the latest checkpoint of the run, if any; returns the optimizer state to restore. */
  private async restore(): Promise<NamedTensor[]> {
    const path = latestCheckpoint(this.dir, this.recipe);
    if (path !== undefined) {
      const checkpoint = await loadCheckpoint(path);
      this.model = checkpoint.model;
      this.state = checkpoint.state;
      this.wallBefore = this.state.wallSeconds;
      this.lastCheckpoint = path;
      truncateSync(this.metricsPath, this.state.metricsBytes);
      return checkpoint.optimizerWeights;
    }
    truncateSync(this.metricsPath, 0); // no epoch finished: start over
    return [];
  }

  /** Builds stage `index`'s model, initialised from the previous stage's when the recipe says so. */
  private startStage(index: number): void {
    const stage = this.recipe.stages[index] as StageSpec;
    const model = createModel(stage.model.name, {
      ...stage.model.options,
      classes: this.trainSplit.classes.length,
      inputSize: this.recipe.dataset.imageSize,
      inputChannels: this.recipe.dataset.channels ?? this.trainSplit.channels,
      seed: this.recipe.seed,
    });
    const init =
      stage.init === 'previous' ? initFromReal(model, this.model as tfl.LayersModel) : null;
    if (init && (init.missing.length > 0 || init.mismatched.length > 0)) {
      const skipped = [...init.missing, ...init.mismatched.map((m) => m.layer)];
      this.progress?.log(
        `bireal: stage '${stage.name}' kept its own init for ${skipped.join(', ')}`,
      );
    }
    this.model?.dispose();
    this.model = model;
    const record: StageRecord = {
      name: stage.name,
      model: stage.model.name,
      init,
      epochs: 0,
      train: null,
      eval: null,
      checkpoint: checkpointName(index, stage),
    };
    this.state = { ...this.state, stage: index, epoch: 0, step: 0 };
    this.state.stages.push(record);
    this.log({
      type: 'stage',
      stage: stage.name,
      index: index + 1,
      model: stage.model.name,
      options: stage.model.options,
      init: init && {
        copied: init.copied.length,
        missing: init.missing,
        mismatched: init.mismatched.map((m) => m.layer),
      },
    });
  }

  private async evaluate(stage: StageSpec): Promise<EvalResult> {
    this.progress?.update(`${stage.name}: evaluating on ${this.evalSplit.id}`);
    const limit = this.recipe.limitBatches;
    return evaluate(this.model as tfl.LayersModel, this.evalSplit, {
      batchSize: stage.batchSize,
      workers: this.recipe.dataset.workers,
      ...(limit === null ? {} : { limit: limit * stage.batchSize }),
    });
  }

  private diverged(error: DivergedError, stage: StageSpec, epoch: number, batch: Batch): never {
    const { stages } = this.recipe;
    const step = this.state.step + 1;
    this.log({
      type: 'diverged',
      stage: stage.name,
      epoch: epoch + 1,
      step,
      loss: String(error.loss),
    });
    const kept = this.lastCheckpoint
      ? `the last good checkpoint, ${this.lastCheckpoint}, is kept`
      : 'no checkpoint had been written yet';
    throw new TrainingDivergedError(
      `training diverged at step ${step} (stage ${this.state.stage + 1}/${stages.length} ` +
        `'${stage.name}', epoch ${epoch + 1}/${stage.epochs}, batch ${batch.index + 1}): loss is ` +
        `${error.loss}. Stopped before updating the weights; ${kept}`,
    );
  }

  private async trainEpoch(
    stage: StageSpec,
    epoch: number,
    step: MeasuredTrainStep,
    optimizer: ScheduledOptimizer,
    batchOptions: BatchOptions,
    stepsPerEpoch: number,
  ): Promise<{
    loss: number;
    accuracy: number;
    lr: number;
    seconds: number;
    weightSignFlips?: number;
  }> {
    const model = this.model as tfl.LayersModel;
    const signsBefore = binaryWeightSigns(model);
    const classes = this.trainSplit.classes.length;
    const start = performance.now();
    let last = start;
    let images = 0;
    let lossSum = 0;
    let correct = 0;
    let batches = 0;
    let lr = 0;
    for await (const batch of this.trainSplit.batches(batchOptions, epoch)) {
      checkBatchShape(batch, modelInputShape(model), this.trainSplit.id);
      lr = learningRate(stage, this.state.step, stepsPerEpoch);
      optimizer.setLearningRate(lr);
      const x = batchImages(batch);
      const y = labelsOneHot(batch, classes);
      let result: StepResult;
      try {
        result = step(x, y);
      } catch (error) {
        if (error instanceof DivergedError) this.diverged(error, stage, epoch, batch);
        throw error;
      } finally {
        tf.dispose([x, y]);
      }
      const now = performance.now();
      this.state.step++;
      batches++;
      images += batch.n;
      lossSum += result.loss * batch.n;
      correct += result.correct;
      this.log({
        type: 'step',
        stage: stage.name,
        epoch: epoch + 1,
        step: this.state.step,
        loss: result.loss,
        accuracy: result.correct / batch.n,
        lr,
        imagesPerSecond: (batch.n * 1000) / (now - last),
      });
      last = now;
      const seconds = (now - start) / 1000;
      const remaining = stage.epochs * stepsPerEpoch - this.state.step;
      this.progress?.update(
        `${stage.name} (${this.state.stage + 1}/${this.recipe.stages.length}) ` +
          `epoch ${epoch + 1}/${stage.epochs} ${batches}/${stepsPerEpoch} ` +
          `loss ${(lossSum / images).toFixed(3)} acc ${percent(correct / images)} ` +
          `${(images / seconds).toFixed(1)} img/s lr ${lr.toExponential(1)} ` +
          `ETA ${formatDuration((remaining * seconds) / batches)}`,
      );
      if (batches === stepsPerEpoch) break;
    }
    if (batches === 0)
      throw new Error(`${this.trainSplit.id} gave no batches in epoch ${epoch + 1}`);
    const signsAfter = binaryWeightSigns(model);
    return {
      loss: lossSum / images,
      accuracy: correct / images,
      lr,
      seconds: (performance.now() - start) / 1000,
      // Fraction of the binary weights that changed sign during the epoch.
      ...(signsBefore && signsAfter
        ? { weightSignFlips: signFlipRate(signsBefore, signsAfter) }
        : {}),
    };
  }

  /** Trains stage `index` from the current state to its last epoch; returns its final eval. */
  private async trainStage(
    index: number,
    optimizerWeights: NamedTensor[],
  ): Promise<EvalResult | undefined> {
    const stage = this.recipe.stages[index] as StageSpec;
    const record = this.state.stages[index] as StageRecord;
    const { imageSize, workers, channels, crop, scale, lighting } = this.recipe.dataset;
    const batchOptions: BatchOptions = {
      batchSize: stage.batchSize,
      imageSize,
      augment: true,
      seed: this.recipe.seed + index,
      dropLast: true,
      workers,
      channels,
      crop,
      scale,
      lighting,
    };
    const stepsPerEpoch = Math.min(
      this.trainSplit.numBatches(batchOptions),
      this.recipe.limitBatches ?? Infinity,
    );
    if (stepsPerEpoch === 0) {
      throw new Error(
        `${this.trainSplit.id} has ${this.trainSplit.size} examples, fewer than one batch of ` +
          `${stage.batchSize}`,
      );
    }
    const model = this.model as tfl.LayersModel;
    const optimizer = createOptimizer(
      stage.optimizer,
      learningRate(stage, this.state.step, stepsPerEpoch),
    );
    let result: EvalResult | undefined;
    let parallel: DataParallelTrainStep | undefined;
    try {
      if (optimizerWeights.length > 0) await optimizer.setWeights(optimizerWeights);
      const stepOptions = {
        labelSmoothing: stage.labelSmoothing,
        weightDecay: stage.optimizer.weightDecay,
      };
      if (this.replicas > 1) {
        parallel = await createDataParallelTrainStep(model, optimizer, {
          ...stepOptions,
          replicas: this.replicas,
        });
      }
      const step = parallel?.step ?? createMeasuredTrainStep(model, optimizer, stepOptions);
      for (let epoch = this.state.epoch; epoch < stage.epochs; epoch++) {
        const stats = await this.trainEpoch(
          stage,
          epoch,
          step,
          optimizer,
          batchOptions,
          stepsPerEpoch,
        );
        const lastEpoch = epoch + 1 === stage.epochs;
        const evaluation =
          lastEpoch || this.recipe.evalEveryEpoch ? await this.evaluate(stage) : undefined;
        const where = { stage: stage.name, epoch: epoch + 1, step: this.state.step };
        this.log({ type: 'epoch', ...where, ...stats });
        record.epochs = epoch + 1;
        record.train = { loss: stats.loss, accuracy: stats.accuracy };
        let line =
          `${stage.name} epoch ${epoch + 1}/${stage.epochs}: loss ${stats.loss.toFixed(4)}, ` +
          `train acc ${percent(stats.accuracy)}, ${formatDuration(stats.seconds)}`;
        if (evaluation) {
          const { n, top1, top5 } = evaluation;
          this.log({ type: 'eval', ...where, dataset: evaluation.dataset, n, top1, top5 });
          line += `; ${evaluation.dataset} top-1 ${percent(top1)}, top-5 ${percent(top5)}`;
          if (lastEpoch) record.eval = { n, top1, top5 };
        }
        this.progress?.log(line);
        this.state.epoch = epoch + 1;
        this.state.wallSeconds = this.wallSeconds();
        this.state.metricsBytes = statSync(this.metricsPath).size;
        const path = join(this.dir, record.checkpoint);
        await saveCheckpoint(path, {
          model,
          optimizer,
          recipe: this.recipe,
          classes: [...this.trainSplit.classes],
          state: this.state,
        });
        this.lastCheckpoint = path;
        if (lastEpoch) result = evaluation;
      }
    } finally {
      await parallel?.close();
      optimizer.dispose();
      tf.dispose(optimizerWeights.map((w) => w.tensor));
    }
    return result;
  }

  /** Runs (or resumes) the whole recipe; returns and writes the summary. */
  async run(resume: boolean): Promise<RunSummary> {
    let optimizerWeights = resume ? await this.restore() : [];
    const commit = gitCommit();
    const backend = describeBackend();
    this.log({
      type: 'start',
      time: new Date().toISOString(),
      commit,
      backend,
      resume,
      stage: this.recipe.stages[this.state.stage]?.name,
      completedEpochs: this.state.epoch,
    });
    let finalEval: EvalResult | undefined;
    try {
      for (let i = this.state.stage; i < this.recipe.stages.length; i++) {
        if (this.model === undefined || i !== this.state.stage) this.startStage(i);
        finalEval = await this.trainStage(i, optimizerWeights);
        optimizerWeights = [];
      }
      const last = this.recipe.stages.at(-1) as StageSpec;
      finalEval ??= await this.evaluate(last);
    } finally {
      this.model?.dispose();
    }
    const { dataset } = this.recipe;
    const summary: RunSummary = {
      recipe: this.recipe.name,
      seed: this.recipe.seed,
      commit,
      backend,
      wallSeconds: this.wallSeconds(),
      replicas: this.replicas,
      dataset: {
        train: dataset.train,
        eval: dataset.eval,
        imageSize: dataset.imageSize,
        classes: this.trainSplit.classes.length,
      },
      stages: this.state.stages,
      eval: finalEval,
    };
    this.log({ type: 'end', wallSeconds: summary.wallSeconds, top1: finalEval.top1 });
    const json = `${JSON.stringify(summary, null, 2)}\n`;
    await writeFileAtomic(join(this.dir, 'summary.json'), [Buffer.from(json)]);
    return summary;
  }
}

/** Creates the run folder, or checks that the run to resume was started with this recipe. */
async function prepareRunFolder(dir: string, recipe: Recipe, resume: boolean): Promise<void> {
  const configPath = join(dir, 'config.json');
  const config = `${JSON.stringify(parseRecipe(recipe), null, 2)}\n`;
  if (resume) {
    if (!existsSync(configPath)) throw new Error(`${dir} has no config.json: no run to resume`);
    // A run killed while writing a file leaves its temp file (the file itself is intact).
    await removeLeftoverTemps(dir);
    await removeLeftoverTemps(join(dir, 'checkpoints'));
    const saved = parseRecipe(JSON.parse(await readFile(configPath, 'utf8')), configPath);
    if (`${JSON.stringify(saved, null, 2)}\n` !== config) {
      throw new Error(
        `the recipe differs from ${configPath}, the one this run started with; resume with that ` +
          'recipe (e.g. without --config and overrides)',
      );
    }
    return;
  }
  if (existsSync(configPath)) {
    throw new Error(`${dir} already holds a run: resume it (--resume) or choose another folder`);
  }
  await mkdir(join(dir, 'checkpoints'), { recursive: true });
  await writeFileAtomic(configPath, [Buffer.from(config)]);
  await writeFileAtomic(join(dir, 'metrics.jsonl'), []);
}

/**
 * Trains a recipe in the run folder `options.out` (or resumes it there), stage by stage: one
 * checkpoint per epoch, metrics.jsonl, and summary.json with the final evaluation.
 * @param recipe - what to train, stage by stage.
 * @param options - the run folder, resuming, progress output.
 */
export async function train(recipe: Recipe, options: TrainOptions): Promise<RunSummary> {
  await prepareRunFolder(options.out, recipe, options.resume ?? false);
  const openSplit = options.openDataset ?? openDataset;
  const open = (spec: string) => openSplit(spec, { classes: recipe.dataset.classes });
  const progress = options.progress === undefined ? new Progress() : options.progress;
  const trainSplit = await open(recipe.dataset.train);
  try {
    const evalSplit = await open(recipe.dataset.eval);
    try {
      if (JSON.stringify(trainSplit.classes) !== JSON.stringify(evalSplit.classes)) {
        throw new Error(`${trainSplit.id} and ${evalSplit.id} have different classes`);
      }
      const trainer = new Trainer(
        recipe,
        options.out,
        trainSplit,
        evalSplit,
        progress,
        options.replicas ?? 1,
      );
      return await trainer.run(options.resume ?? false);
    } finally {
      await evalSplit.close();
    }
  } finally {
    await trainSplit.close();
    progress?.end();
  }
}
