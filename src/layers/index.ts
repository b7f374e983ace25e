/**
 * tfjs-layers custom layers for 1-bit networks, registered for serialization so that models
 * containing them save and load with `model.save` / `tf.loadLayersModel`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  BINARIZERS,
  ESTIMATORS,
  binarizeActivation,
  binarizeWeight,
  checkName,
  type Binarizer,
  type Estimator,
} from '../binarize/index.js';
import { NATIVE_KERNELS, hasKernel } from '../backend/native.js';

/**
 * Keyword arguments of a tfjs layer call (unused here).
 *
 * @inline
 */
type Kwargs = Record<string, unknown>;
type LayerShape = (number | null)[];

function singleTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`expected one input tensor, got ${inputs.length}`);
    return inputs[0] as tf.Tensor;
  }
  return inputs;
}

function singleShape(inputShape: tfl.Shape | tfl.Shape[]): LayerShape {
  return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
}

/** Spatial output length of a convolution, as TensorFlow computes it. */
function convOutputLength(length: number, stride: number, padding: 'same' | 'valid', kernel = 1) {
  return padding === 'same'
    ? Math.ceil(length / stride)
    : Math.ceil((length - kernel + 1) / stride);
}

/** Kernel initializers a {@link BinaryConv2D} accepts by name. */
const INITIALIZERS = {
  glorotUniform: tfl.initializers.glorotUniform,
  glorotNormal: tfl.initializers.glorotNormal,
  heNormal: tfl.initializers.heNormal,
  heUniform: tfl.initializers.heUniform,
} as const;
/** Name of a kernel initializer. */
export type InitializerName = keyof typeof INITIALIZERS;

/** Bi-Real Net's choices, used where a binary conv does not name its own. */
export const BINARY_DEFAULTS: { estimator: Estimator; binarizer: Binarizer } = {
  estimator: 'approx-sign',
  binarizer: 'magnitude-aware',
};

/** Constructor arguments of {@link BinaryConv2D}. */
export interface BinaryConv2DArgs {
  /** Output channels. */
  filters: number;
  /** Square kernel size. */
  kernelSize: number;
  /** Square stride; default 1. */
  strides?: number;
  /** Default 'same' (zero padding of the binarized input, as the authors' code does). */
  padding?: 'same' | 'valid';
  /** Activation gradient estimator; default 'approx-sign'. */
  estimator?: Estimator;
  /** Weight binarizer; default 'magnitude-aware'. */
  binarizer?: Binarizer;
  /** Kernel initializer; default 'glorotUniform'. */
  kernelInitializer?: InitializerName;
  /** Seed of the kernel initializer. */
  seed?: number;
  name?: string;
  trainable?: boolean;
}

/**
 * A 1-bit 2-D convolution: conv2d(binarizeActivation(x), binarizeWeight(W)), no bias.
 * The latent real-valued kernel W [k, k, cIn, filters] is what the optimizer updates. Where the
 * native addon's kernels are registered (Node), the convolution is counted by XOR and popcount.
 */
export class BinaryConv2D extends tfl.layers.Layer {
  /** Name under which the class is registered for serialization. */
  static readonly className = 'BinaryConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: 'same' | 'valid';
  readonly estimator: Estimator;
  readonly binarizer: Binarizer;
  readonly kernelInitializer: InitializerName;
  readonly seed: number | undefined;
  private kernel: tfl.LayerVariable | null = null;

  /**
   * A 1-bit convolution layer.
   * @param args - filters, kernel size, strides, padding, estimator and binarizer, and the usual
   *   layer arguments.
   */
  constructor(args: BinaryConv2DArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.padding = args.padding ?? 'same';
    this.estimator = checkName(
      'estimator',
      args.estimator ?? BINARY_DEFAULTS.estimator,
      ESTIMATORS,
    );
    this.binarizer = checkName(
      'binarizer',
      args.binarizer ?? BINARY_DEFAULTS.binarizer,
      BINARIZERS,
    );
    this.kernelInitializer = checkName(
      'kernel initializer',
      args.kernelInitializer ?? 'glorotUniform',
      Object.keys(INITIALIZERS) as InitializerName[],
    );
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = singleShape(inputShape).at(-1);
    if (channels == null) throw new Error(`${this.name}: the channel dimension must be known`);
    const initializer = INITIALIZERS[this.kernelInitializer]({ seed: this.seed });
    this.kernel = this.addWeight(
      'kernel',
      [this.kernelSize, this.kernelSize, channels, this.filters],
      'float32',
      initializer,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [batch, height, width] = singleShape(inputShape);
    const out = (n: number | null | undefined) =>
      n == null ? null : convOutputLength(n, this.strides, this.padding, this.kernelSize);
    return [batch ?? null, out(height), out(width), this.filters];
  }

  /**
   * The layer's output for `inputs`.
   * @param inputs - the layer's input.
   * @param _kwargs - unused (tfjs passes `training` here).
   */
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs) as tf.Tensor4D;
      const kernel = (this.kernel as tfl.LayerVariable).read() as tf.Tensor4D;
      const xb = binarizeActivation(x, this.estimator);
      const wb = binarizeWeight(kernel, this.binarizer);
      if (!hasKernel(NATIVE_KERNELS.binaryConv))
        return tf.conv2d(xb, wb, this.strides, this.padding);
      // With the native addon: the same convolution by XOR and popcount.
      const attrs = { strides: this.strides, pad: this.padding };
      return tf.engine().runKernel(NATIVE_KERNELS.binaryConv, { x: xb, wb }, attrs) as tf.Tensor;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      estimator: this.estimator,
      binarizer: this.binarizer,
      kernelInitializer: this.kernelInitializer,
    };
    if (this.seed !== undefined) config['seed'] = this.seed;
    return { ...config, ...super.getConfig() };
  }
}

/** Constructor arguments of {@link Clip}. */
export interface ClipArgs {
  /** Slope outside [-1, 1]; default 0 (clip itself). */
  slope?: number;
  name?: string;
}

/**
 * clip(x, -1, 1) ("hardtanh"), the activation of the paper's clip pretraining; with a `slope`,
 * the authors' leaky clip: x inside [-1, 1], +-1 + slope * (x -+ 1) outside (their Caffe
 * pretraining goes ReLU, then leaky clip with slope 0.1, then clip).
 */
export class Clip extends tfl.layers.Layer {
  /** Name under which the class is registered for serialization. */
  static readonly className = 'Clip';
  readonly slope: number;

  /**
   * A clip(x, -1, 1) activation layer.
   * @param args - the usual layer arguments (name, ...).
   */
  constructor(args: ClipArgs = {}) {
    super({ name: args.name });
    this.slope = args.slope ?? 0;
  }

  /**
   * The layer's output for `inputs`.
   * @param inputs - the layer's input.
   * @param _kwargs - unused (tfjs passes `training` here).
   */
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return leakyClip(singleTensor(inputs), this.slope);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { slope: this.slope, ...super.getConfig() };
  }
}

/** clip(x, -1, 1) + slope * (x - clip(x, -1, 1)): {@link Clip}'s forward. */
export function leakyClip(x: tf.Tensor, slope: number): tf.Tensor {
  return tf.tidy(() => {
    const clipped = tf.clipByValue(x, -1, 1);
    return slope === 0 ? clipped : tf.add(clipped, tf.mul(tf.sub(x, clipped), slope));
  });
}

tf.serialization.registerClass(BinaryConv2D);
tf.serialization.registerClass(Clip);
