/**
 * Training recipes (`configs/*.json`): a typed schema and its validation. A recipe is a dataset,
 * a seed and one or more stages trained one after the other in one run folder (e.g. the paper's
 * real ReLU net -> clip fine-tune -> Bi-Real net); each stage names its model, initialisation,
 * optimizer, learning-rate schedule, epochs, batch size and label smoothing.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { BINARIZERS, ESTIMATORS } from '../binarize/index.js';
import { MODEL_NAMES, type ModelName, type ModelOptions } from '../models/index.js';

/** Model options a recipe sets; classes, input size and channels come from the dataset. */
export type RecipeModelOptions = Pick<
  ModelOptions,
  'smallInput' | 'width' | 'activation' | 'block' | 'estimator' | 'binarizer'
>;

/** A model of the registry with its options. */
export interface ModelSpec {
  name: ModelName;
  options: RecipeModelOptions;
}

/** Where the images come from and how they are prepared. */
export interface DatasetSpec {
  /** Training split for `openDataset`, e.g. `cifar10:train`. */
  train: string;
  /** Evaluation split, e.g. `cifar10:test`. */
  eval: string;
  /** Square image side in pixels (the model's input size). */
  imageSize: number;
  /** Decode/augment worker threads (0 = in the training thread). */
  workers: number;
  /** Channels fed to the model, 1 or 3 (grey and RGB are converted); default: the dataset's. */
  channels?: 1 | 3;
  /** Training crop: 'resized' (RandomResizedCrop, the default) or 'padded' (pad 4, CIFAR). */
  crop?: 'resized' | 'padded';
  /** RandomResizedCrop's range of area fractions; default [0.08, 1]. */
  scale?: [number, number];
  /** Std of the PCA lighting noise (RGB); default 0.1, 0 = off. */
  lighting?: number;
  /**
   * Only these classes (ids or labels), the same for train and eval, relabelled 0, 1, ... in this
   * order; default all of the dataset's.
   */
  classes?: string[];
}

/** Adam (tfjs defaults beta1 0.9, beta2 0.999) or SGD with momentum (PyTorch's form). */
export type OptimizerSpec =
  | { type: 'adam'; lr: number; lrReferenceBatch?: number; weightDecay: number }
  | { type: 'sgd'; lr: number; lrReferenceBatch?: number; momentum: number; weightDecay: number };

/** Learning-rate schedule of a stage, after an optional linear warmup. */
export type ScheduleSpec =
  | { type: 'linear'; warmupEpochs: number }
  | { type: 'step'; milestones: number[]; gamma: number; warmupEpochs: number };

/** One stage of a recipe. */
export interface StageSpec {
  /** Unique within the recipe; names the stage's checkpoint file. */
  name: string;
  model: ModelSpec;
  /** 'previous': copy the previous stage's final weights by layer name (`initFromReal`). */
  init: 'none' | 'previous';
  optimizer: OptimizerSpec;
  schedule: ScheduleSpec;
  epochs: number;
  batchSize: number;
  labelSmoothing: number;
}

/** A complete, validated recipe with every default filled in. */
export interface Recipe {
  name: string;
  description: string;
  /** Seeds the weight initialisation and, with the epoch, the data order and augmentation. */
  seed: number;
  dataset: DatasetSpec;
  stages: StageSpec[];
  /** Evaluate on the eval split after every epoch (else after every stage). */
  evalEveryEpoch: boolean;
  /** Cap on the batches of each training epoch and each evaluation (smoke runs); null = all. */
  limitBatches: number | null;
}

/** A recipe that fails validation; the message names the source and the field. */
export class RecipeError extends Error {}

type NumberKind = 'positive' | 'non-negative' | 'positive-int' | 'non-negative-int' | 'fraction';

const NUMBER_CHECKS: Record<NumberKind, [(n: number) => boolean, string]> = {
  positive: [(n) => n > 0, 'a positive number'],
  'non-negative': [(n) => n >= 0, 'a non-negative number'],
  'positive-int': [(n) => Number.isInteger(n) && n > 0, 'a positive integer'],
  'non-negative-int': [(n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'],
  fraction: [(n) => n >= 0 && n < 1, 'a number in [0, 1)'],
};

/** Reads the fields of one JSON object, naming `source` and the field path in every error. */
class Fields {
  private readonly known = new Set<string>();
  private readonly object: Record<string, unknown>;

  constructor(
    value: unknown,
    private readonly source: string,
    private readonly path: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path || 'the recipe', 'must be an object', value);
    }
    this.object = value as Record<string, unknown>;
  }

  fail(field: string, expected: string, value: unknown): never {
    throw new RecipeError(`${this.source}: ${field} ${expected}, got ${JSON.stringify(value)}`);
  }

  field(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The raw value of `key` (undefined when absent). */
  raw(key: string): unknown {
    this.known.add(key);
    return this.object[key];
  }

  /** Whether `key` is present (it counts as known either way). */
  has(key: string): boolean {
    this.known.add(key);
    return this.object[key] !== undefined;
  }

  string(key: string, fallback?: string, pattern?: [RegExp, string]): string {
    const value = this.raw(key) ?? fallback;
    if (typeof value !== 'string' || value === '') {
      this.fail(this.field(key), 'must be a non-empty string', value);
    }
    if (pattern && !pattern[0].test(value)) this.fail(this.field(key), pattern[1], value);
    return value;
  }

  oneOf<T extends string | number>(key: string, valid: readonly T[], fallback?: T): T {
    const value = this.raw(key) ?? fallback;
    if (!(valid as readonly unknown[]).includes(value)) {
      this.fail(this.field(key), `must be one of ${valid.join(', ')}`, value);
    }
    return value as T;
  }

  number(key: string, kind: NumberKind, fallback?: number): number {
    const value = this.raw(key) ?? fallback;
    const [ok, expected] = NUMBER_CHECKS[kind];
    if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
      this.fail(this.field(key), `must be ${expected}`, value);
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key) ?? fallback;
    if (typeof value !== 'boolean') this.fail(this.field(key), 'must be true or false', value);
    return value;
  }

  /** Rejects keys that no reader asked for (typos, unsupported options). */
  done(): void {
    for (const key of Object.keys(this.object)) {
      if (!this.known.has(key)) {
        const allowed = [...this.known].join(', ');
        this.fail(this.field(key), `is not a known field (known: ${allowed})`, this.object[key]);
      }
    }
  }
}

const SPLIT_SPEC: [RegExp, string] = [/^[a-z0-9-]+:.+$/i, "must be a dataset spec 'NAME:SPLIT'"];
const NAME: [RegExp, string] = [/^\w[\w.-]*$/, 'must be letters, digits, . _ - (a file name)'];

function parseModel(value: unknown, source: string, path: string): ModelSpec {
  const f: Fields = new Fields(value, source, path);
  const name = f.oneOf('name', MODEL_NAMES);
  const o: Fields = new Fields(f.raw('options') ?? {}, source, f.field('options'));
  const options: RecipeModelOptions = {};
  if (o.has('smallInput')) options.smallInput = o.boolean('smallInput', false);
  if (o.has('width')) options.width = o.number('width', 'positive');
  if (o.has('activation'))
    options.activation = o.oneOf('activation', ['relu', 'clip', 'leaky-clip'] as const);
  if (o.has('block')) options.block = o.oneOf('block', ['basic', 'bireal'] as const);
  if (o.has('estimator')) options.estimator = o.oneOf('estimator', ESTIMATORS);
  if (o.has('binarizer')) options.binarizer = o.oneOf('binarizer', BINARIZERS);
  o.done();
  f.done();
  return { name, options };
}

function parseOptimizer(value: unknown, source: string, path: string): OptimizerSpec {
  const f: Fields = new Fields(value, source, path);
  const type = f.oneOf('type', ['adam', 'sgd']);
  const lr = f.number('lr', 'positive');
  const reference = f.has('lrReferenceBatch')
    ? { lrReferenceBatch: f.number('lrReferenceBatch', 'positive-int') }
    : {};
  const weightDecay = f.number('weightDecay', 'non-negative', 0);
  const spec: OptimizerSpec =
    type === 'adam'
      ? { type, lr, ...reference, weightDecay }
      : { type, lr, ...reference, momentum: f.number('momentum', 'fraction', 0.9), weightDecay };
  f.done();
  return spec;
}

function parseSchedule(value: unknown, source: string, path: string): ScheduleSpec {
  const f: Fields = new Fields(value, source, path);
  const type = f.oneOf('type', ['linear', 'step']);
  const warmupEpochs = f.number('warmupEpochs', 'non-negative', 0);
  let spec: ScheduleSpec;
  if (type === 'linear') {
    spec = { type, warmupEpochs };
  } else {
    const milestones = f.raw('milestones') ?? [];
    const valid =
      Array.isArray(milestones) &&
      milestones.every(
        (m, i) => Number.isInteger(m) && m > 0 && (i === 0 || m > milestones[i - 1]),
      );
    if (!valid) {
      f.fail(f.field('milestones'), 'must be increasing positive integers (epochs)', milestones);
    }
    spec = {
      type,
      milestones: milestones as number[],
      gamma: f.number('gamma', 'positive', 0.1),
      warmupEpochs,
    };
  }
  f.done();
  return spec;
}

function parseStage(value: unknown, source: string, index: number): StageSpec {
  const path = `stages[${index}]`;
  const f: Fields = new Fields(value, source, path);
  const stage: StageSpec = {
    name: f.string('name', undefined, NAME),
    model: parseModel(f.raw('model'), source, f.field('model')),
    init: f.oneOf('init', ['none', 'previous'], 'none'),
    optimizer: parseOptimizer(f.raw('optimizer'), source, f.field('optimizer')),
    schedule: parseSchedule(f.raw('schedule'), source, f.field('schedule')),
    epochs: f.number('epochs', 'positive-int'),
    batchSize: f.number('batchSize', 'positive-int'),
    labelSmoothing: f.number('labelSmoothing', 'fraction', 0),
  };
  f.done();
  if (index === 0 && stage.init === 'previous') {
    f.fail(f.field('init'), "cannot be 'previous' in the first stage", stage.init);
  }
  return stage;
}

/**
 * Validates a parsed JSON recipe and fills in its defaults; throws a {@link RecipeError} naming
 * `source` and the offending field (unknown fields and model names included).
 * @param value - the parsed JSON.
 * @param source - what errors call it (e.g. its file).
 */
export function parseRecipe(value: unknown, source = 'recipe'): Recipe {
  const f: Fields = new Fields(value, source, '');
  const name = f.string('name', undefined, NAME);
  const description = f.raw('description') ?? '';
  if (typeof description !== 'string') f.fail('description', 'must be a string', description);
  const d: Fields = new Fields(f.raw('dataset'), source, 'dataset');
  const dataset: DatasetSpec = {
    train: d.string('train', undefined, SPLIT_SPEC),
    eval: d.string('eval', undefined, SPLIT_SPEC),
    imageSize: d.number('imageSize', 'positive-int'),
    workers: d.number('workers', 'non-negative-int', 2),
  };
  if (d.has('channels')) dataset.channels = d.oneOf('channels', [1, 3] as const);
  if (d.has('crop')) dataset.crop = d.oneOf('crop', ['resized', 'padded'] as const);
  if (d.has('scale')) {
    const scale = d.raw('scale');
    const [min, max] = Array.isArray(scale) ? (scale as unknown[]) : [];
    const valid =
      Array.isArray(scale) &&
      scale.length === 2 &&
      typeof min === 'number' &&
      typeof max === 'number' &&
      0 < min &&
      min <= max &&
      max <= 1;
    if (!valid) d.fail('dataset.scale', 'must be [min, max] with 0 < min <= max <= 1', scale);
    dataset.scale = scale as [number, number];
  }
  if (d.has('lighting')) dataset.lighting = d.number('lighting', 'non-negative');
  if (d.has('classes')) {
    const classes = d.raw('classes');
    const valid =
      Array.isArray(classes) &&
      classes.length >= 2 &&
      classes.every((c) => typeof c === 'string' && c.length > 0) &&
      new Set(classes).size === classes.length;
    if (!valid) d.fail('dataset.classes', 'must be 2 or more distinct class names', classes);
    dataset.classes = classes as string[];
  }
  d.done();
  const rawStages = f.raw('stages');
  if (!Array.isArray(rawStages) || rawStages.length === 0) {
    f.fail('stages', 'must be a non-empty array of stages', rawStages);
  }
  const stages = rawStages.map((s, i) => parseStage(s, source, i));
  const names = stages.map((s) => s.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) f.fail('stages', 'must have unique names', duplicate);
  const limit = f.raw('limitBatches');
  const recipe: Recipe = {
    name,
    description,
    seed: f.number('seed', 'non-negative-int', 0),
    dataset,
    stages,
    evalEveryEpoch: f.boolean('evalEveryEpoch', false),
    limitBatches:
      limit === undefined || limit === null ? null : f.number('limitBatches', 'positive-int'),
  };
  f.done();
  return recipe;
}

/**
 * Reads and validates a recipe file (JSON); errors name the file.
 * @param path - the recipe file.
 */
export async function loadRecipe(path: string): Promise<Recipe> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new RecipeError(`cannot read recipe ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RecipeError(`${basename(path)} is not valid JSON: ${(error as Error).message}`);
  }
  return parseRecipe(value, path);
}

/** Command-line overrides of a recipe. */
export interface RecipeOverrides {
  /** Epochs of every stage (step-decay milestones stay as they are). */
  epochs?: number;
  seed?: number;
  limitBatches?: number;
}

/**
 * A copy of `recipe` with the given overrides applied.
 * @param recipe - the recipe.
 * @param overrides - the fields to change (epochs, batch size, seed...).
 */
export function withOverrides(recipe: Recipe, overrides: RecipeOverrides): Recipe {
  const { epochs, seed, limitBatches } = overrides;
  return parseRecipe(
    {
      ...recipe,
      ...(seed === undefined ? {} : { seed }),
      ...(limitBatches === undefined ? {} : { limitBatches }),
      stages: recipe.stages.map((s) => (epochs === undefined ? s : { ...s, epochs })),
    },
    'overrides',
  );
}
