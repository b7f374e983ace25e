/**
 * The landing page's MNIST demo recipe: model, hyper-parameters, batch order, evaluation and the
 * size comparison. Shared by the page (`mnist-demo.ts`) and its Node check
 * (`site/build/mnist-demo-check.ts`) so both run identical code; it never touches the DOM.
 * Call the library's `initBackend()` before {@link trainMnist}.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BinaryConv2D, costSummary, createOptimizer, createTrainStep } from '../../src/index.js';

/** Images (N x 784 uint8, row-major 28x28) and their labels (N uint8): one split of the assets. */
export interface MnistSplit {
  images: Uint8Array;
  labels: Uint8Array;
}

/** Everything that defines a training run of the demo. */
export interface MnistRecipe {
  /** Channels of the stem and the first stage; each later stage doubles them. */
  channels: number;
  /** Binary 3x3 convs (each with its own shortcut) per stage. */
  blocks: number[];
  /** Stride of the real stem conv (2: the binary stages start at 14x14). */
  stemStride: number;
  batchSize: number;
  /** Adam's learning rate, decayed linearly to 0 over {@link MnistRecipe.steps}. */
  lr: number;
  /** Training steps of a full run. */
  steps: number;
  /** Evaluate on the whole test subset every this many steps (and after the last). */
  evalEvery: number;
  /** Seeds the weights and the batch order (not 0: tfjs treats seed 0 as no seed). */
  seed: number;
}

/**
 * The demo's recipe, chosen with `site/build/mnist-demo-check.ts` on one wasm thread: the stem's
 * stride 2 makes steps ~3x cheaper than at 28x28 for about the same accuracy per step, a deep
 * last stage learns faster than a wide first one, and Adam at 0.02 decayed over 300 steps passes
 * 90% at step 250-300 for every seed tried (1-6; ~15 s in Node), ending at 91.4-93.3%. Shorter
 * schedules (200 steps) end below 90%. The 300 batches of 32 take each training image once.
 */
export const MNIST_RECIPE: MnistRecipe = {
  channels: 16,
  blocks: [1, 2, 3],
  stemStride: 2,
  batchSize: 32,
  lr: 0.02,
  steps: 300,
  evalEvery: 50,
  seed: 1,
};

/** Test accuracy that the demo must exceed. */
export const TARGET_ACCURACY = 0.9;

/** MNIST's pixel mean and standard deviation (of values in [0, 1]), as the library normalises. */
const MEAN = 0.1307;
const STD = 0.3081;

/** Number of images in a split. */
export function splitSize(split: MnistSplit): number {
  return split.labels.length;
}

/**
 * A small Bi-Real net (Liu et al., 2018) for 28x28x1 digits: a real 3x3 stem conv + BN, then
 * stages of binary 3x3 convs, each followed by BN and added to its own real shortcut (identity,
 * or 2x2 average pooling + 1x1 conv + BN where a stage halves the size and doubles the
 * channels), global average pooling and a real dense classifier. The layer types and names follow
 * the library's `bireal18` (see `createModel`), so its layer-wise backprop and `costSummary` apply.
 */
export function createMnistModel(recipe: MnistRecipe): tfl.LayersModel {
  let layerSeed = recipe.seed;
  const seed = () => ++layerSeed;
  // BatchNorm as in the library's models.
  const bn = (x: tfl.SymbolicTensor, name: string) =>
    tfl.layers
      .batchNormalization({ name, axis: -1, momentum: 0.9, epsilon: 1e-5 })
      .apply(x) as tfl.SymbolicTensor;
  const input = tfl.input({ shape: [28, 28, 1], name: 'input' });
  const stem = tfl.layers.conv2d({
    name: 'stem_conv',
    filters: recipe.channels,
    kernelSize: 3,
    strides: recipe.stemStride,
    padding: 'same',
    useBias: false,
    kernelInitializer: tfl.initializers.heNormal({ seed: seed() }),
  });
  let x = bn(stem.apply(input) as tfl.SymbolicTensor, 'stem_bn');
  recipe.blocks.forEach((count, index) => {
    const stage = `s${index + 1}`;
    const filters = recipe.channels * 2 ** index;
    for (let block = 0; block < count; block++) {
      const name = `${stage}_conv${block + 1}`;
      const strides = block === 0 && index > 0 ? 2 : 1;
      let shortcut = x;
      if (strides > 1) {
        const pool = tfl.layers.averagePooling2d({
          name: `${stage}_down_pool`,
          poolSize: 2,
          strides: 2,
          padding: 'same',
        });
        const conv = tfl.layers.conv2d({
          name: `${stage}_down_conv`,
          filters,
          kernelSize: 1,
          useBias: false,
          kernelInitializer: tfl.initializers.heNormal({ seed: seed() }),
        });
        shortcut = bn(
          conv.apply(pool.apply(x) as tfl.SymbolicTensor) as tfl.SymbolicTensor,
          `${stage}_down_bn`,
        );
      }
      const binary = new BinaryConv2D({ name, filters, kernelSize: 3, strides, seed: seed() });
      const y = bn(binary.apply(x) as tfl.SymbolicTensor, `${stage}_bn${block + 1}`);
      x = tfl.layers.add({ name: `${stage}_add${block + 1}` }).apply([y, shortcut]) as typeof x;
    }
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(x) as tfl.SymbolicTensor;
  const fc = tfl.layers.dense({
    name: 'fc',
    units: 10,
    kernelInitializer: tfl.initializers.glorotUniform({ seed: seed() }),
  });
  return tfl.model({ name: 'mnist-bireal', inputs: input, outputs: fc.apply(x) as typeof x });
}

/** Mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Indices 0..n-1 in a seeded random order (Fisher-Yates). */
function shuffled(n: number, next: () => number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** The images at `indices` as a normalised NHWC float32 tensor. */
function imageTensor(split: MnistSplit, indices: ArrayLike<number>): tf.Tensor4D {
  const values = new Float32Array(indices.length * 784);
  for (let i = 0; i < indices.length; i++) {
    const start = (indices[i] as number) * 784;
    const image = split.images.subarray(start, start + 784);
    for (let p = 0; p < 784; p++) values[i * 784 + p] = ((image[p] as number) / 255 - MEAN) / STD;
  }
  return tf.tensor4d(values, [indices.length, 28, 28, 1]);
}

/** Top-1 accuracy of `model` (BatchNorm in inference mode) on every image of `split`. */
export function testAccuracy(model: tfl.LayersModel, split: MnistSplit, batchSize = 500): number {
  const n = splitSize(split);
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
    const predicted = tf.tidy(() =>
      tf.argMax(model.predict(imageTensor(split, indices)) as tf.Tensor2D, 1),
    );
    const classes = predicted.dataSync();
    predicted.dispose();
    indices.forEach((index, i) => {
      if (classes[i] === split.labels[index]) correct++;
    });
  }
  return correct / n;
}

/** What {@link trainMnist} reports after each step. */
export interface StepReport {
  /** 1-based step number. */
  step: number;
  /** Training images seen so far. */
  images: number;
  /** Seconds since the first step started. */
  seconds: number;
  /** Mean loss of the step's batch. */
  loss: number;
}

/** What {@link trainMnist} reports after each evaluation on the test subset. */
export interface EvalReport {
  /** Steps trained before this evaluation. */
  step: number;
  /** Seconds since the first step started, this evaluation included. */
  seconds: number;
  /** Top-1 accuracy on the whole test subset. */
  accuracy: number;
}

/** The outcome of {@link trainMnist}. */
export interface TrainResult {
  /** The trained model; the caller disposes it. */
  model: tfl.LayersModel;
  /** Steps run (fewer than the recipe's when stopped). */
  steps: number;
  seconds: number;
  /** Accuracy on the test subset after the last step (null when no step ran). */
  testAccuracy: number | null;
  /** The first evaluation whose accuracy exceeded {@link TARGET_ACCURACY}, if any. */
  reached: EvalReport | null;
  stopped: boolean;
}

/** Options of {@link trainMnist}. */
export interface TrainOptions {
  recipe?: MnistRecipe;
  /** Called after every step. */
  onStep?: (report: StepReport) => void;
  /** Called after every evaluation: each `evalEvery` steps, after the last and when stopped. */
  onEvaluate?: (report: EvalReport) => void;
  /** Checked before every step: true ends training early, keeping the weights. */
  shouldStop?: () => boolean;
  /** Yields to the event loop between steps (the page stays responsive, charts update). */
  pause?: () => Promise<void>;
}

/**
 * Trains the demo's model on `train`: Adam with its learning rate decayed linearly to 0,
 * softmax cross-entropy and layer-wise gradients through the library's `createTrainStep`, batches
 * in seeded random order (a new shuffle each pass). Evaluates on the whole of `test` every
 * `evalEvery` steps, after the last step and when stopped.
 */
export async function trainMnist(
  train: MnistSplit,
  test: MnistSplit,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const recipe = options.recipe ?? MNIST_RECIPE;
  const { batchSize } = recipe;
  const model = createMnistModel(recipe);
  const optimizer = createOptimizer({ type: 'adam', lr: recipe.lr, weightDecay: 0 }, recipe.lr);
  const step = createTrainStep(model, optimizer);
  const next = random(recipe.seed);
  const n = splitSize(train);
  let order = shuffled(n, next);
  let position = 0;
  let steps = 0;
  const evaluations: EvalReport[] = [];
  const start = performance.now();
  const seconds = () => (performance.now() - start) / 1000;
  const evaluate = () => {
    const accuracy = testAccuracy(model, test);
    const report = { step: steps, seconds: seconds(), accuracy };
    evaluations.push(report);
    options.onEvaluate?.(report);
  };
  try {
    while (steps < recipe.steps && !options.shouldStop?.()) {
      if (position + batchSize > n) {
        order = shuffled(n, next);
        position = 0;
      }
      const indices = order.subarray(position, position + batchSize);
      position += batchSize;
      optimizer.setLearningRate(recipe.lr * (1 - steps / recipe.steps));
      const loss = tf.tidy(() => {
        const labels = Int32Array.from(indices, (i) => train.labels[i] as number);
        const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), 10) as tf.Tensor2D;
        return step(imageTensor(train, indices), oneHot);
      });
      steps++;
      options.onStep?.({ step: steps, images: steps * batchSize, seconds: seconds(), loss });
      if (steps % recipe.evalEvery === 0 || steps === recipe.steps) evaluate();
      await options.pause?.();
    }
    if (steps > 0 && evaluations.at(-1)?.step !== steps) evaluate();
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    optimizer.dispose();
  }
  return {
    model,
    steps,
    seconds: seconds(),
    testAccuracy: evaluations.at(-1)?.accuracy ?? null,
    reached: evaluations.find((e) => e.accuracy > TARGET_ACCURACY) ?? null,
    stopped: steps < recipe.steps,
  };
}

/** Model memory as stored with 1-bit binary weights versus every weight in float32. */
export interface SizeComparison {
  /** Trainable parameters (binary + real). */
  params: number;
  binaryParams: number;
  realParams: number;
  /** Bytes with binary weights at 1 bit and the other parameters at 32 bits (`costSummary`). */
  oneBitBytes: number;
  /** Bytes of the same network with every parameter in float32. */
  float32Bytes: number;
  /** float32Bytes / oneBitBytes. */
  ratio: number;
}

/**
 * The size of `model` with its binary conv weights at 1 bit (the library's `costSummary`:
 * BatchNorm scale and offset count as real parameters, its moving statistics do not) versus the
 * same architecture with every one of those parameters stored as float32.
 */
export function compareSizes(model: tfl.LayersModel): SizeComparison {
  const summary = costSummary(model);
  const oneBitBytes = summary.memoryBits / 8;
  const float32Bytes = summary.params * 4;
  return {
    params: summary.params,
    binaryParams: summary.binaryParams,
    realParams: summary.realParams,
    oneBitBytes,
    float32Bytes,
    ratio: float32Bytes / oneBitBytes,
  };
}
