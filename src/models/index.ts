/**
 * Model registry: Bi-Real-18/34, their real-valued ResNet counterparts and the plain 1-bit
 * ResNet baseline, built by name with tfjs-layers' functional API (NHWC input).
 *
 * Layer names are shared across models so that weights map by name (see `initFromReal`):
 * `stem_conv`, `stem_bn`, then per stage s = 1..4 the 3x3 convs `s{s}_conv{j}` with their
 * BatchNorms `s{s}_bn{j}` numbered in order through the stage, the downsampling shortcut
 * `s{s}_down_conv` / `s{s}_down_bn`, and the classifier `fc`. Bi-Real-18 and ResNet-18 thus have
 * the same names on layers of the same shapes.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { checkName, type Binarizer, type Estimator } from '../binarize/index.js';
import { BinaryConv2D, Clip } from '../layers/index.js';

type Sym = tfl.SymbolicTensor;

/** Options shared by every model of the registry. */
export interface ModelOptions {
  /** Number of classes of the classifier; default 1000. */
  classes?: number;
  /** Square input size in pixels; default 224. */
  inputSize?: number;
  /** Input channels; default 3. */
  inputChannels?: number;
  /** Small-input stem for 32x32 images: 3x3/1 conv + BN, no max-pool. Default false. */
  smallInput?: boolean;
  /** Width multiplier applied to every stage's channels (64/128/256/512); default 1. */
  width?: number;
  /**
   * Activation of the real-valued nets: 'relu' (default), 'clip' (clip(x, -1, 1)) or
   * 'leaky-clip' (the authors' step between them: slope 0.1 outside [-1, 1]).
   */
  activation?: 'relu' | 'clip' | 'leaky-clip';
  /**
   * Block of the real-valued nets: 'basic' (default, the standard ResNet basic block with two
   * convs per shortcut) or 'bireal' (Bi-Real's topology with real weights: one conv per shortcut,
   * the activation in place of the sign).
   */
  block?: 'basic' | 'bireal';
  /** Activation gradient estimator of the binary nets; default 'approx-sign'. */
  estimator?: Estimator;
  /** Weight binarizer of the binary nets; default 'magnitude-aware'. */
  binarizer?: Binarizer;
  /**
   * Seed for weight initialisation (layer i uses seed + i + 1: tfjs treats a seed of 0 as no
   * seed); random when omitted.
   */
  seed?: number;
}

/** The slope of the authors' leaky clip outside [-1, 1] (their Caffe pretraining). */
export const LEAKY_CLIP_SLOPE = 0.1;

type Kind = 'bireal' | 'plain-binary' | 'real';

interface Spec {
  kind: Kind;
  /** Basic blocks (two 3x3 convs each) per stage, as in ResNet-18/34. */
  blocks: readonly number[];
  description: string;
}

const SPECS = {
  bireal18: { kind: 'bireal', blocks: [2, 2, 2, 2], description: 'Bi-Real-18 (1-bit)' },
  bireal34: { kind: 'bireal', blocks: [3, 4, 6, 3], description: 'Bi-Real-34 (1-bit)' },
  resnet18: { kind: 'real', blocks: [2, 2, 2, 2], description: 'ResNet-18 (real-valued)' },
  resnet34: { kind: 'real', blocks: [3, 4, 6, 3], description: 'ResNet-34 (real-valued)' },
  'plain-binary-resnet18': {
    kind: 'plain-binary',
    blocks: [2, 2, 2, 2],
    description: '1-bit ResNet-18 without per-conv shortcuts (the paper baseline)',
  },
  'plain-binary-resnet34': {
    kind: 'plain-binary',
    blocks: [3, 4, 6, 3],
    description: '1-bit ResNet-34 without per-conv shortcuts',
  },
} as const satisfies Record<string, Spec>;

/**
 * Names accepted by {@link createModel}.
 *
 * @useDeclaredType
 */
export type ModelName = keyof typeof SPECS;
/** Every registered model name. */
export const MODEL_NAMES = Object.keys(SPECS) as ModelName[];

/**
 * One-line description of a registered model.
 * @param name - the model, one of `MODEL_NAMES`.
 */
export function describeModel(name: ModelName): string {
  return SPECS[name].description;
}

const STAGE_CHANNELS = [64, 128, 256, 512];

class Builder {
  private layerIndex = 0;
  constructor(private readonly options: ModelOptions) {}

  seed(): number | undefined {
    return this.options.seed === undefined ? undefined : this.options.seed + ++this.layerIndex;
  }

  private initializer(): ReturnType<typeof tfl.initializers.heNormal> {
    return tfl.initializers.heNormal({ seed: this.seed() });
  }

  conv(x: Sym, name: string, filters: number, kernelSize: number, strides: number): Sym {
    const layer = tfl.layers.conv2d({
      name,
      filters,
      kernelSize,
      strides,
      padding: 'same',
      useBias: false,
      kernelInitializer: this.initializer(),
    });
    return layer.apply(x) as Sym;
  }

  binaryConv(x: Sym, name: string, filters: number, strides: number): Sym {
    const seed = this.seed();
    const layer = new BinaryConv2D({
      name,
      filters,
      kernelSize: 3,
      strides,
      estimator: this.options.estimator,
      binarizer: this.options.binarizer,
      ...(seed === undefined ? {} : { seed }),
    });
    return layer.apply(x) as Sym;
  }

  bn(x: Sym, name: string): Sym {
    return tfl.layers
      .batchNormalization({ name, axis: -1, momentum: 0.9, epsilon: 1e-5 })
      .apply(x) as Sym;
  }

  act(x: Sym, name: string): Sym {
    const activation = this.options.activation ?? 'relu';
    const layer =
      activation === 'relu'
        ? tfl.layers.reLU({ name })
        : new Clip({ name, slope: activation === 'leaky-clip' ? LEAKY_CLIP_SLOPE : 0 });
    return layer.apply(x) as Sym;
  }

  add(a: Sym, b: Sym, name: string): Sym {
    return tfl.layers.add({ name }).apply([a, b]) as Sym;
  }

  /** Shortcut of a block that changes shape: avgpool 2x2/s -> 1x1 conv -> BN (Bi-Real), or a strided 1x1 conv -> BN (standard ResNet). */
  downsample(x: Sym, prefix: string, filters: number, strides: number, avgPool: boolean): Sym {
    let y = x;
    if (avgPool && strides > 1) {
      y = tfl.layers
        .averagePooling2d({
          name: `${prefix}_down_pool`,
          poolSize: strides,
          strides,
          padding: 'same',
        })
        .apply(y) as Sym;
    }
    y = this.conv(y, `${prefix}_down_conv`, filters, 1, avgPool ? 1 : strides);
    return this.bn(y, `${prefix}_down_bn`);
  }
}

function channelsOf(x: Sym): number {
  return x.shape.at(-1) as number;
}

/**
 * Builds a registered model by name; an unknown name throws an error listing the valid ones.
 * @param name - the model, one of `MODEL_NAMES`.
 * @param options - input size, classes, width, block, estimator, binarizer...
 */
export function createModel(name: string, options: ModelOptions = {}): tfl.LayersModel {
  const spec: Spec = SPECS[checkName('model', name, MODEL_NAMES)];
  const classes = options.classes ?? 1000;
  const size = options.inputSize ?? 224;
  const width = options.width ?? 1;
  for (const [key, value] of Object.entries({ classes, inputSize: size, width })) {
    if (!(Number.isFinite(value) && value > 0))
      throw new Error(`${key} must be positive, got ${value}`);
  }
  const b = new Builder(options);
  const input = tfl.input({ shape: [size, size, options.inputChannels ?? 3], name: 'input' });
  const stemChannels = Math.max(1, Math.round(64 * width));

  // Stem: real-valued conv + BN; ReLU only in the real nets (Bi-Real has none here).
  let x = options.smallInput
    ? b.conv(input, 'stem_conv', stemChannels, 3, 1)
    : b.conv(input, 'stem_conv', stemChannels, 7, 2);
  x = b.bn(x, 'stem_bn');
  const realBasic = spec.kind === 'real' && (options.block ?? 'basic') === 'basic';
  if (realBasic) x = b.act(x, 'stem_act');
  if (!options.smallInput) {
    x = tfl.layers
      .maxPooling2d({ name: 'stem_pool', poolSize: 3, strides: 2, padding: 'same' })
      .apply(x) as Sym;
  }

  const perConvShortcut = spec.kind === 'bireal' || (spec.kind === 'real' && !realBasic);
  spec.blocks.forEach((blockCount, stageIndex) => {
    const stage = `s${stageIndex + 1}`;
    const filters = Math.max(1, Math.round((STAGE_CHANNELS[stageIndex] as number) * width));
    let conv = 0; // numbers the 3x3 convs through the stage
    const convBn = (y: Sym, strides: number): Sym => {
      const n = ++conv;
      const convOut =
        spec.kind === 'real'
          ? b.conv(y, `${stage}_conv${n}`, filters, 3, strides)
          : b.binaryConv(y, `${stage}_conv${n}`, filters, strides);
      return b.bn(convOut, `${stage}_bn${n}`);
    };
    for (let block = 0; block < blockCount; block++) {
      const strides = block === 0 && stageIndex > 0 ? 2 : 1;
      const shortcutOf = (y: Sym, s: number): Sym =>
        s > 1 || channelsOf(y) !== filters ? b.downsample(y, stage, filters, s, !realBasic) : y;
      if (perConvShortcut) {
        // Bi-Real: each of the block's two convs has its own shortcut,
        // out = BN(conv(sign(x))) + shortcut(x); the sign lives inside BinaryConv2D.
        for (const s of [strides, 1]) {
          const shortcut = shortcutOf(x, s);
          const pre = spec.kind === 'real' ? b.act(x, `${stage}_act${conv + 1}`) : x;
          x = b.add(convBn(pre, s), shortcut, `${stage}_add${conv}`);
        }
      } else {
        // Two convs per shortcut: the standard ResNet basic block and the plain 1-bit ResNet.
        const shortcut = shortcutOf(x, strides);
        let y = convBn(x, strides);
        if (realBasic) y = b.act(y, `${stage}_act${conv}`);
        y = convBn(y, 1);
        x = b.add(y, shortcut, `${stage}_add${conv}`);
        if (realBasic) x = b.act(x, `${stage}_out${conv}`);
      }
    }
  });

  x = tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(x) as Sym;
  const logits = tfl.layers
    .dense({
      name: 'fc',
      units: classes,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: b.seed() }),
    })
    .apply(x) as Sym;
  return tfl.model({ name, inputs: input, outputs: logits });
}
