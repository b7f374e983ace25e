/**
 * The notebooks' experiments as reproducible commands: each is a base recipe and a set of
 * variants (model options), trained once per seed with the ordinary trainer. Full runs are
 * recorded under results/experiments/NAME/VARIANT-sSEED/ (config.json, summary.json,
 * metrics.jsonl) and the notebooks load them; quick mode (CI) trains tiny versions live.
 *
 *   bireal experiment NAME [--quick] [--seeds 0,1,2] [--variants a,b] [--replicas R]
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { BINARY_DEFAULTS } from '../layers/index.js';
import type { ModelName, ModelOptions } from '../models/index.js';
import { parseRecipe, type Recipe } from '../train/recipe.js';
import { train, type RunSummary } from '../train/trainer.js';
import type { Progress } from '../train/progress.js';

/**
 * What a variant changes: it trains the base recipe's `stages` (indices; default all, e.g. [1]
 * skips a pretraining stage), with its first trained stage's model renamed to `model`, given
 * extra `options` and/or trained at learning rate `lr`.
 *
 * @inline
 */
export interface Variant {
  model?: ModelName;
  options?: ModelOptions;
  stages?: number[];
  lr?: number;
  /** Train and evaluate on these classes of the dataset only (its recipe's `dataset.classes`). */
  classes?: string[];
}

/** An experiment: a recipe whose first stage's model changes per variant. */
export interface Experiment {
  description: string;
  /** The recipe (as in configs/*.json) shared by every variant. */
  base: Record<string, unknown>;
  /**
   * The variants by name. Each trains the base recipe's `stages` (indices; default all, e.g. [1]
   * skips a pretraining stage), with its first trained stage's model renamed to `model`, given
   * extra `options`, trained at learning rate `lr` and/or on a subset of `classes`.
   */
  variants: Record<string, Variant>;
  /** Seeds of a full run. */
  seeds: number[];
}

const imagenette64: Record<string, unknown> = {
  dataset: {
    train: 'imagenette:train',
    eval: 'imagenette:val',
    imageSize: 64,
    workers: 1,
    crop: 'resized',
    scale: [0.35, 1],
    lighting: 0.1,
  },
  evalEveryEpoch: true,
};

function binaryStage(epochs: number, width = 0.25): Record<string, unknown> {
  return {
    name: 'binary',
    model: { name: 'bireal18', options: { width } },
    optimizer: { type: 'adam', lr: 0.004, weightDecay: 0 },
    schedule: { type: 'linear' },
    epochs,
    batchSize: 64,
    labelSmoothing: 0.1,
  };
}

/**
 * The paper's binary-stage optimizer: SGD, momentum 0.9, no weight decay, the rate x0.1 at half
 * and three quarters of the stage (the paper's epochs 10 and 15 of 20).
 */
function sgdStage(epochs: number, lr: number, width: number): Record<string, unknown> {
  return {
    ...binaryStage(epochs, width),
    optimizer: { type: 'sgd', lr, momentum: 0.9, weightDecay: 0 },
    schedule: { type: 'step', milestones: [epochs / 2, (epochs * 3) / 4], gamma: 0.1 },
  };
}

/**
 * A stage of the authors' real-valued pretraining at full width: Bi-Real-18's structure with real
 * weights and `activation` where the sign will be, Adam at `lr`; named after its activation.
 */
function realBiRealStage(
  activation: NonNullable<ModelOptions['activation']>,
  epochs: number,
  lr: number,
): Record<string, unknown> {
  return {
    ...binaryStage(epochs, 1),
    name: activation,
    model: { name: 'resnet18', options: { width: 1, block: 'bireal', activation } },
    optimizer: { type: 'adam', lr, weightDecay: 0 },
  };
}

/** The weight binarizers whose difference is the paper's magnitude-aware gradient. */
const WEIGHT_GRADIENTS: Record<string, Variant> = {
  'magnitude-aware': { options: { binarizer: 'magnitude-aware' } },
  scaled: { options: { binarizer: 'scaled' } },
};

/**
 * The ablation grid of issue 7 on one dataset: Bi-Real-18 from scratch, and the same with one
 * part changed: activation gradient, weight gradient, initialisation (a real ResNet-18 with ReLU
 * or clip trained first) or structure.
 */
function ablationGrid(
  where: string,
  dataset: Record<string, unknown>,
  epochs: { real: number; binary: number },
): Experiment {
  return {
    description:
      `The ablation grid on ${where}, 3 seeds: Bi-Real-18 (width 0.25; ApproxSign, ` +
      'magnitude-aware weights, a shortcut around every 1-bit conv, from scratch) and the same ' +
      'with one part changed: the STE or the clipped STE; the plain scaled-sign weight gradient; ' +
      `initialised from a real ResNet-18 with ReLU or with clip trained ${epochs.real} epochs ` +
      `first; the plain 1-bit ResNet structure. ${epochs.binary} binary epochs, Adam, linear decay.`,
    base: {
      dataset,
      evalEveryEpoch: false,
      stages: [
        {
          ...binaryStage(epochs.real),
          name: 'real',
          model: { name: 'resnet18', options: { width: 0.25 } },
        },
        { ...binaryStage(epochs.binary), init: 'previous' },
      ],
    },
    variants: {
      'bi-real': { stages: [1] },
      ste: { stages: [1], options: { estimator: 'ste' } },
      'clipped-ste': { stages: [1], options: { estimator: 'clipped-ste' } },
      'scaled-sign': { stages: [1], options: { binarizer: 'scaled' } },
      'relu-pretrained': { options: { activation: 'relu' } },
      'clip-pretrained': { options: { activation: 'clip' } },
      'plain-resnet': { stages: [1], model: 'plain-binary-resnet18' },
    },
    seeds: [0, 1, 2],
  };
}

/**
 * Bi-Real-18 and the two variants whose gaps to it test the paper's shortcut and estimator
 * claims: its clipped-STE variant and the plain 1-bit ResNet-18.
 */
const GAPS: Record<string, Variant> = {
  'bi-real': {},
  'clipped-ste': { options: { estimator: 'clipped-ste' } },
  'plain-resnet': { model: 'plain-binary-resnet18' },
};

/**
 * Each of `variants` in each of `settings`, named `VARIANT-SUFFIX` with `suffix(setting)` and
 * changed by `change` (e.g. `bi-real-w0.5`, `bi-real-lr1e-3`, `bi-real-c2`).
 */
function inSettings<T>(
  variants: Record<string, Variant>,
  settings: T[],
  suffix: (setting: T) => string,
  change: (variant: Variant, setting: T) => Variant,
): Record<string, Variant> {
  return Object.fromEntries(
    settings.flatMap((setting) =>
      Object.entries(variants).map(([name, v]) => [
        `${name}-${suffix(setting)}`,
        change(v, setting),
      ]),
    ),
  );
}

/** Each of `variants` at each width, named `VARIANT-wWIDTH` (e.g. `bi-real-w0.5`). */
const atWidths = (variants: Record<string, Variant>, widths: number[]) =>
  inSettings(
    variants,
    widths,
    (w) => `w${w}`,
    (v, width) => ({ ...v, options: { width, ...v.options } }),
  );

/** Each of `variants` at each learning rate, named `VARIANT-lrLR` (e.g. `bi-real-lr1e-3`). */
const atLearningRates = (variants: Record<string, Variant>, rates: number[]) =>
  inSettings(
    variants,
    rates,
    (lr) => `lr${lr.toExponential()}`,
    (v, lr) => ({ ...v, lr }),
  );

/**
 * Each of `variants` on the first n classes of Imagenette (by class id) for each n of `counts`,
 * named `VARIANT-cN` (e.g. `bi-real-c2`).
 */
const onClassSubsets = (variants: Record<string, Variant>, counts: number[]) =>
  inSettings(
    variants,
    counts,
    (n) => `c${n}`,
    (v, n) => ({ ...v, classes: IMAGENETTE_CLASSES.slice(0, n) }),
  );

/** Imagenette's class ids (ImageNet wnids), sorted as its folders are. */
const IMAGENETTE_CLASSES = [
  'n01440764', // tench
  'n02102040', // English springer
  'n02979186', // cassette player
  'n03000684', // chain saw
  'n03028079', // church
  'n03394916', // French horn
  'n03417042', // garbage truck
  'n03425413', // gas pump
  'n03445777', // golf ball
  'n03888605', // parachute
];

/** Imagenette at `size` px with the recipes' augmentation. */
function imagenetteAt(size: number): Record<string, unknown> {
  return { ...(imagenette64['dataset'] as Record<string, unknown>), imageSize: size };
}

const imagenette32 = imagenetteAt(32);

/** Every experiment, by name. */
export const EXPERIMENTS: Record<string, Experiment> = {
  estimators: {
    description:
      'Bi-Real-18 (width 0.25) on Imagenette at 64x64 px, 6 epochs, Adam: the activation ' +
      'gradient is the STE, the clipped STE or ApproxSign (weights: magnitude-aware).',
    base: { ...imagenette64, stages: [binaryStage(6)] },
    variants: {
      ste: { options: { estimator: 'ste' } },
      'clipped-ste': { options: { estimator: 'clipped-ste' } },
      'approx-sign': { options: { estimator: 'approx-sign' } },
    },
    seeds: [0],
  },
  'weight-gradient': {
    description:
      'Bi-Real-18 (width 0.25) on Imagenette at 64x64 px, 6 epochs, Adam, ApproxSign: the ' +
      "weights are binarized as alpha*sign(W) with the paper's magnitude-aware gradient " +
      "alpha*1{|W|<1}, as alpha*sign(W) with the authors' code's gradient 1{|W|<=1}, or as " +
      'sign(W) without a scale.',
    base: { ...imagenette64, stages: [binaryStage(6)] },
    variants: {
      'magnitude-aware': { options: { binarizer: 'magnitude-aware' } },
      scaled: { options: { binarizer: 'scaled' } },
      sign: { options: { binarizer: 'sign' } },
    },
    seeds: [0],
  },
  'clip-pretraining': {
    description:
      'Imagenette at 64x64 px, width 0.25: a real ResNet-18 with ReLU or with clip(x, -1, 1) ' +
      'activations is trained for 4 epochs, then Bi-Real-18 (ApproxSign, magnitude-aware ' +
      'weights) starts from its weights and trains 6 epochs; or Bi-Real-18 trains its 6 epochs ' +
      'from scratch. Adam, linear decay, in each stage.',
    base: {
      ...imagenette64,
      stages: [
        { ...binaryStage(4), name: 'real', model: { name: 'resnet18', options: { width: 0.25 } } },
        { ...binaryStage(6), init: 'previous' },
      ],
    },
    variants: {
      clip: { options: { activation: 'clip' } },
      relu: { options: { activation: 'relu' } },
      scratch: { stages: [1] },
    },
    seeds: [0],
  },
  'grid-imagenette': ablationGrid('Imagenette at 32x32 px', imagenette32, { real: 4, binary: 6 }),
  'grid-cifar10': ablationGrid(
    'CIFAR-10 at 32x32 px (the ImageNet stem: stride-2 conv and max-pool)',
    {
      train: 'cifar10:train',
      eval: 'cifar10:test',
      imageSize: 32,
      workers: 1,
      crop: 'padded',
      lighting: 0,
    },
    { real: 1, binary: 1 },
  ),
  'budget-imagenette-64': {
    description:
      'The two results of the 32 px grid that contradict the paper (the clipped STE and the plain ' +
      '1-bit ResNet beat Bi-Real-18), at a longer budget: Imagenette at 64x64 px, 16 epochs from ' +
      'scratch, Adam, linear decay, width 0.25; Bi-Real-18, its clipped-STE variant and the ' +
      'plain 1-bit ResNet-18.',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [binaryStage(16)] },
    variants: GAPS,
    seeds: [0, 1, 2],
  },
  'sgd-lr-trial': {
    description:
      'A short trial to choose the SGD rate of weight-gradient-sgd: Bi-Real-18 (width 0.5) on ' +
      'Imagenette at 64x64 px, 4 epochs, SGD momentum 0.9, no weight decay, x0.1 at epochs 2 ' +
      'and 3, batch 64; magnitude-aware and plain scaled-sign weight gradient at rates 0.1, ' +
      '0.03, 0.01 and 0.003 (the magnitude-aware gradient is about alpha = mean|W| times ' +
      'smaller, so each variant gets its own best rate; at 0.3 the loss became NaN in the ' +
      'first epoch).',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [sgdStage(4, 0.01, 0.5)] },
    variants: atLearningRates(WEIGHT_GRADIENTS, [0.1, 0.03, 0.01, 0.003]),
    seeds: [0],
  },
  'weight-gradient-sgd': {
    description:
      "The magnitude-aware weight gradient under the paper's binary-stage optimizer, where its " +
      'per-channel alpha acts as a per-channel learning rate (Adam divides it out): Bi-Real-18 ' +
      '(width 0.5) on Imagenette at 64x64 px, 16 epochs from scratch, SGD momentum 0.9, no ' +
      'weight decay, rate 0.03 (the best of both in sgd-lr-trial), x0.1 at epochs 8 and 12, ' +
      "batch 64; the paper's gradient alpha*1{|W|<1} against the plain scaled sign's " +
      '1{|W|<=1}.',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [sgdStage(16, 0.03, 0.5)] },
    variants: WEIGHT_GRADIENTS,
    seeds: [0, 1, 2],
  },
  'regime-map-64': {
    description:
      'How the shortcut and estimator gaps change as the network widens: Imagenette at 64x64 ' +
      'px, 16 epochs from scratch, Adam 4e-3, linear decay, at widths 0.25, 0.5 and 1 (full ' +
      'width: 64-512 channels); Bi-Real-18, its clipped-STE variant and the plain 1-bit ' +
      'ResNet-18.',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [binaryStage(16)] },
    variants: atWidths(GAPS, [0.25, 0.5, 1]),
    seeds: [0, 1, 2],
  },
  'regime-length-64': {
    description:
      "The regime map's length axis: its full-width cell (Imagenette at 64x64 px, width 1, Adam " +
      '4e-3, linear decay) trained 48 epochs instead of 16, seeds paired with the map; Bi-Real-18, ' +
      'its clipped-STE variant and the plain 1-bit ResNet-18.',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [binaryStage(48, 1)] },
    variants: GAPS,
    seeds: [0, 1],
  },
  'regime-classes-64': {
    description:
      "The regime map's class axis: its full-width cell (Imagenette at 64x64 px, width 1, 16 " +
      'epochs, Adam 4e-3, linear decay) on the first 2 and the first 5 of its 10 classes (by ' +
      'ImageNet id: tench, English springer; then cassette player, chain saw, church), val ' +
      'restricted to them; Bi-Real-18, its clipped-STE variant and the plain 1-bit ResNet-18.',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [binaryStage(16, 1)] },
    variants: onClassSubsets(GAPS, [2, 5]),
    seeds: [0, 1],
  },
  'imagenette-128': {
    description:
      'Closer to the paper: Imagenette at 128x128 px, full width (64-512 channels), 12 epochs ' +
      'from scratch, Adam 4e-3, linear decay; Bi-Real-18, its clipped-STE variant, the plain ' +
      '1-bit ResNet-18 and the real ResNet-18 (ReLU).',
    base: { dataset: imagenetteAt(128), evalEveryEpoch: false, stages: [binaryStage(12, 1)] },
    variants: {
      ...GAPS,
      'real-relu': { model: 'resnet18', options: { activation: 'relu' } },
    },
    seeds: [0, 1],
  },
  'lr-sensitivity': {
    description:
      'Do the gaps hinge on the learning rate? One cell of the regime map (Imagenette at 64x64 ' +
      "px, width 0.5, 16 epochs, batch 64) at Adam 4e-3 (the recipes' rate), 1e-3 and 2.5e-4 " +
      "(twice the authors' 1e-3 at batch 512 scaled linearly to batch 64, which is 1.25e-4); " +
      'Bi-Real-18, its clipped-STE variant and the plain 1-bit ResNet-18.',
    base: { ...imagenette64, evalEveryEpoch: false, stages: [binaryStage(16, 0.5)] },
    variants: atLearningRates(GAPS, [4e-3, 1e-3, 2.5e-4]),
    seeds: [0],
  },
  'init-64': {
    description:
      'The initialisation claim at full width: Imagenette at 64x64 px, width 1; a real ' +
      'ResNet-18 with ReLU or with clip(x, -1, 1) activations trains 4 epochs, then Bi-Real-18 ' +
      'starts from its weights and trains 16 epochs; or Bi-Real-18 trains its 16 epochs from ' +
      'scratch. Adam 4e-3, linear decay, in each stage.',
    base: {
      ...imagenette64,
      evalEveryEpoch: false,
      stages: [
        { ...binaryStage(4, 1), name: 'real', model: { name: 'resnet18', options: { width: 1 } } },
        { ...binaryStage(16, 1), init: 'previous' },
      ],
    },
    variants: {
      clip: { options: { activation: 'clip' } },
      relu: { options: { activation: 'relu' } },
      scratch: { stages: [1] },
    },
    seeds: [0],
  },
  'init-paper-64': {
    description:
      "The initialisation as the authors did it (their Caffe README): a real net of Bi-Real-18's " +
      'structure (a shortcut around every 3x3 conv; block bireal) trains 12 epochs with ReLU ' +
      '(Adam 4e-3), is fine-tuned 2 epochs with the leaky clip (slope 0.1 outside [-1, 1]) and ' +
      '2 with clip(x, -1, 1) (Adam 1e-3 each), then Bi-Real-18 starts from it and trains 16 ' +
      'epochs (Adam 4e-3); against Bi-Real-18 from the ReLU net directly and from scratch. ' +
      'Imagenette at 64x64 px, full width, linear decay in each stage. Epochs per variant: ' +
      '12 + 2 + 2 + 16 = 32, 12 + 16 = 28 and 16.',
    base: {
      ...imagenette64,
      evalEveryEpoch: false,
      stages: [
        realBiRealStage('relu', 12, 4e-3),
        { ...realBiRealStage('leaky-clip', 2, 1e-3), init: 'previous' },
        { ...realBiRealStage('clip', 2, 1e-3), init: 'previous' },
        { ...binaryStage(16, 1), init: 'previous' },
      ],
    },
    variants: {
      'clip-chain': {},
      'relu-start': { stages: [0, 3] },
      scratch: { stages: [3] },
    },
    seeds: [0, 1],
  },
  'headline-224': {
    description:
      "A two-stage run at the paper's resolution and width, on Imagenette, sized to finish " +
      'within one 3-hour working session: 224x224 px, full width; a real ResNet-18 (basic ' +
      'blocks) with clip(x, -1, 1) activations trains 3 epochs from scratch, then Bi-Real-18 ' +
      'starts from its weights and trains 8 epochs. Adam 4e-3, linear decay, in each stage. Not ' +
      "the paper's recipe (ReLU pretraining, clip fine-tuning, 20 SGD epochs); scratch-224 is " +
      'the same length from scratch.',
    base: {
      dataset: imagenetteAt(224),
      evalEveryEpoch: false,
      stages: [
        {
          ...binaryStage(3, 1),
          name: 'real',
          model: { name: 'resnet18', options: { width: 1, activation: 'clip' } },
        },
        { ...binaryStage(8, 1), init: 'previous' },
      ],
    },
    variants: { 'bi-real': {} },
    seeds: [0],
  },
  'scratch-224': {
    description:
      'What the two-stage initialisation of headline-224 is worth: Bi-Real-18 trained from ' +
      'scratch for the same 11 epochs (3 + 8) at 224x224 px, full width, Adam 4e-3, linear ' +
      'decay, on Imagenette.',
    base: { dataset: imagenetteAt(224), evalEveryEpoch: false, stages: [binaryStage(11, 1)] },
    variants: { 'bi-real': {} },
    seeds: [0],
  },
  'model-table': {
    description:
      'The results table on Imagenette at 32x32 px, 3 seeds, 6 epochs from scratch, Adam, ' +
      'linear decay, width 0.25: Bi-Real-18, Bi-Real-34, the plain 1-bit ResNet-18, and the ' +
      'real ResNet-18 with clip or ReLU activations.',
    base: { dataset: imagenette32, evalEveryEpoch: false, stages: [binaryStage(6)] },
    variants: {
      bireal18: {},
      bireal34: { model: 'bireal34' },
      'plain-binary-resnet18': { model: 'plain-binary-resnet18' },
      'resnet18-clip': { model: 'resnet18', options: { activation: 'clip' } },
      'resnet18-relu': { model: 'resnet18', options: { activation: 'relu' } },
    },
    seeds: [0, 1, 2],
  },
  shortcut: {
    description:
      'Imagenette at 64x64 px, 6 epochs, Adam, ApproxSign, magnitude-aware weights, width ' +
      '0.25: Bi-Real-18 (a real-valued shortcut around every 1-bit conv) against the plain ' +
      '1-bit ResNet-18 (shortcut around each pair of convs).',
    base: { ...imagenette64, stages: [binaryStage(6)] },
    variants: {
      bireal: {},
      plain: { model: 'plain-binary-resnet18' },
    },
    seeds: [0],
  },
};

/** One trained variant: its recipe, summary and metrics.jsonl entries. */
export interface ExperimentRun {
  variant: string;
  seed: number;
  recipe: Recipe;
  summary: RunSummary;
  metrics: Record<string, unknown>[];
}

function experiment(name: string): Experiment {
  const found = EXPERIMENTS[name];
  if (found === undefined) {
    throw new Error(`unknown experiment '${name}'; valid: ${Object.keys(EXPERIMENTS).join(', ')}`);
  }
  return found;
}

/**
 * The recipe of one variant and seed; quick mode shrinks it to a few batches at 32 px.
 * @param name - the experiment, a key of `EXPERIMENTS`.
 * @param variant - one of its variants.
 * @param seed - the random seed.
 * @param quick - shrink it to quick size.
 */
export function experimentRecipe(
  name: string,
  variant: string,
  seed: number,
  quick = false,
): Recipe {
  const { base, variants } = experiment(name);
  const change = variants[variant];
  if (change === undefined) {
    throw new Error(
      `experiment ${name} has no variant '${variant}'; valid: ${Object.keys(variants).join(', ')}`,
    );
  }
  const all = base['stages'] as Record<string, unknown>[];
  const baseStages = change.stages?.map((i) => all[i] as Record<string, unknown>) ?? all;
  const stages = baseStages.map((stage, i) => {
    const model = stage['model'] as { name: string; options: ModelOptions };
    // The first trained stage starts from scratch.
    const { init, ...rest } = stage;
    const optimizer = stage['optimizer'] as Record<string, unknown>;
    return {
      ...(i === 0 ? rest : { ...rest, init }),
      ...(i === 0 && change.lr !== undefined ? { optimizer: { ...optimizer, lr: change.lr } } : {}),
      ...(quick ? { epochs: 1, batchSize: 16 } : {}),
      model:
        i === 0
          ? { name: change.model ?? model.name, options: { ...model.options, ...change.options } }
          : model,
    };
  });
  const dataset = {
    ...(base['dataset'] as Record<string, unknown>),
    ...(change.classes === undefined ? {} : { classes: change.classes }),
    ...(quick ? { imageSize: 32 } : {}),
  };
  return parseRecipe(
    {
      ...base,
      name: `${name}-${variant}-s${seed}${quick ? '-quick' : ''}`,
      description: experiment(name).description,
      seed,
      stages,
      dataset,
      ...(quick ? { limitBatches: 3 } : {}),
    },
    `experiment ${name}/${variant}`,
  );
}

function readMetrics(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function readRun(dir: string, variant: string, seed: number): ExperimentRun {
  const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
  return {
    variant,
    seed,
    recipe: parseRecipe(read('config.json'), join(dir, 'config.json')),
    summary: read('summary.json') as RunSummary,
    metrics: readMetrics(join(dir, 'metrics.jsonl')),
  };
}

const RECORDED = ['config.json', 'summary.json', 'metrics.jsonl'];

/** Options of {@link runExperiment}. */
export interface RunExperimentOptions {
  quick?: boolean;
  /** Default: the experiment's seeds (quick mode: the first two). */
  seeds?: number[];
  /** Default: every variant, in the experiment's order. */
  variants?: string[];
  /** Parent of the run folders; default runs/experiments. */
  runsDir?: string;
  /** Copy the small files of each finished run to this folder (full runs: results/experiments). */
  recordDir?: string;
  replicas?: number;
  progress?: Progress | null;
}

/**
 * What decides a recipe's training: the recipe without its name and description, with the
 * binary convs' default estimator and binarizer written out (so `{}` equals the defaults).
 */
function trainingOf(recipe: Recipe): string {
  const stages = recipe.stages.map((stage) => ({
    ...stage,
    model: { ...stage.model, options: { ...BINARY_DEFAULTS, ...stage.model.options } },
  }));
  return JSON.stringify({ ...recipe, name: '', description: '', stages });
}

/**
 * The most recently finished run of the same training as `recipe` in `folders` (run folders or
 * recorded results, two levels deep: EXPERIMENT/RUN/), e.g. the same Bi-Real-18 in two
 * experiments. The newest is preferred: it was trained by the newest code.
 */
function finishedTwin(recipe: Recipe, folders: string[]): string | undefined {
  const wanted = trainingOf(recipe);
  let newest: { dir: string; finished: number } | undefined;
  for (const folder of folders.filter((f) => existsSync(f))) {
    for (const group of readdirSync(folder)) {
      const groupDir = join(folder, group);
      if (!statSync(groupDir).isDirectory()) continue; // e.g. results/experiments/README.md
      for (const run of readdirSync(groupDir)) {
        const dir = join(groupDir, run);
        if (!existsSync(join(dir, 'summary.json')) || !existsSync(join(dir, 'config.json')))
          continue;
        const config = parseRecipe(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
        const finished = statSync(join(dir, 'summary.json')).mtimeMs;
        if (trainingOf(config) === wanted && finished > (newest?.finished ?? -Infinity)) {
          newest = { dir, finished };
        }
      }
    }
  }
  return newest?.dir;
}

/**
 * Trains every variant and seed of experiment `name` and returns them. Unfinished runs are
 * resumed; a run whose training (the recipe but its name and description) already finished,
 * in this or another experiment, under `runsDir` or `recordDir`, is reused instead.
 * @param name - the experiment, a key of `EXPERIMENTS`.
 * @param options - quick mode, variants and seeds to run, where runs go.
 */
export async function runExperiment(
  name: string,
  options: RunExperimentOptions = {},
): Promise<ExperimentRun[]> {
  const { variants, seeds } = experiment(name);
  const unknown = (options.variants ?? []).filter((v) => variants[v] === undefined);
  if (unknown.length > 0) {
    throw new Error(
      `experiment ${name} has no variant '${unknown.join("', '")}'; valid: ` +
        Object.keys(variants).join(', '),
    );
  }
  const quick = options.quick ?? false;
  const runsDir = options.runsDir ?? join('runs', 'experiments');
  const runs: ExperimentRun[] = [];
  for (const seed of options.seeds ?? (quick ? seeds.slice(0, 2) : seeds)) {
    for (const variant of Object.keys(variants).filter(
      (v) => options.variants?.includes(v) ?? true,
    )) {
      const recipe = experimentRecipe(name, variant, seed, quick);
      const dir = join(runsDir, name, `${variant}-s${seed}${quick ? '-quick' : ''}`);
      if (quick) rmSync(dir, { recursive: true, force: true });
      const twin = quick
        ? undefined
        : finishedTwin(recipe, [runsDir, options.recordDir ?? runsDir]);
      if (twin === undefined) {
        await train(recipe, {
          out: dir,
          resume: existsSync(join(dir, 'config.json')),
          replicas: options.replicas ?? 1,
          progress: options.progress === undefined ? null : options.progress,
        });
      }
      const source = twin ?? dir;
      if (options.recordDir !== undefined) {
        const target = join(options.recordDir, name, `${variant}-s${seed}`);
        mkdirSync(target, { recursive: true });
        for (const file of RECORDED) {
          if (join(source, file) !== join(target, file))
            cpSync(join(source, file), join(target, file), { preserveTimestamps: true });
        }
      }
      runs.push(readRun(source, variant, seed));
    }
  }
  return runs;
}

/**
 * The recorded full runs of experiment `name` from `resultsDir` (default results/experiments).
 * @param name - the experiment, a key of `EXPERIMENTS`.
 * @param resultsDir - the folder of recorded experiments.
 */
export function loadExperiment(name: string, resultsDir: string): ExperimentRun[] {
  const { variants } = experiment(name);
  const dir = join(resultsDir, name);
  if (!existsSync(dir)) {
    throw new Error(`${dir} is missing: record it with \`bireal experiment ${name}\``);
  }
  const order = Object.keys(variants);
  return readdirSync(dir)
    .map((entry) => /^(.+)-s(\d+)$/.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null && order.includes(m[1] as string))
    .map((m) => readRun(join(dir, m[0]), m[1] as string, Number(m[2])))
    .sort((a, b) => order.indexOf(a.variant) - order.indexOf(b.variant) || a.seed - b.seed);
}
