import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { nativeInfo } from '../src/backend/native.js';
import { createModel } from '../src/models/index.js';
import { createMeasuredTrainStep } from '../src/train/step.js';
import { createOptimizer } from '../src/train/optimizer.js';
import type { OptimizerSpec } from '../src/train/recipe.js';
import {
  ReplicaFailedError,
  SharedMemoryCollective,
  createDataParallelTrainStep,
  createSharedGroup,
  splitSizes,
} from '../src/parallel/index.js';

before(async () => {
  await initBackend({ log: false });
});

function batch(n: number, seed: number) {
  const images = tf.randomNormal([n, 32, 32, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
  const ids = tf.tensor1d(
    Array.from({ length: n }, (_, i) => (i * 5 + seed) % 6),
    'int32',
  );
  return { images, labels: tf.cast(tf.oneHot(ids, 6), 'float32') as tf.Tensor2D };
}

/**
 * The closest call among the forward pass's decisions that a rounding error could flip, for
 * `model` in training mode on `images`: the smallest |x| at the input of a ReLU or of a 1-bit
 * conv's sign, and the smallest gap between the two largest values of a max-pool window (other
 * than windows of ReLU zeros, whose gradient is zero whichever wins) and of a row of logits.
 */
function closestDecision(model: tfl.LayersModel, images: tf.Tensor4D): number {
  const decided = model.layers.filter((l) =>
    ['ReLU', 'BinaryConv2D', 'MaxPooling2D'].includes(l.getClassName()),
  );
  const probe = tfl.model({
    inputs: model.inputs,
    outputs: [...decided.map((l) => l.input as tfl.SymbolicTensor), ...model.outputs],
  });
  const values = probe.apply(images, { training: true }) as tf.Tensor[];
  let closest = Infinity;
  // The gap between the largest and second largest of `window`.
  const gap = (window: number[]) => {
    const [first, second] = window.sort((a, b) => b - a) as [number, number];
    if (first !== 0) closest = Math.min(closest, first - second);
  };
  decided.forEach((layer, i) => {
    const x = values[i] as tf.Tensor4D;
    if (layer.getClassName() !== 'MaxPooling2D') {
      closest = Math.min(closest, tf.min(tf.abs(x)).dataSync()[0] as number);
      return;
    }
    const config = layer.getConfig() as { poolSize: number[]; strides: number[]; padding: string };
    assert.equal(config.padding, 'same', 'the windows below are those of same padding');
    const [k, stride] = [config.poolSize[0] as number, config.strides[0] as number];
    const [n, h, w, c] = x.shape;
    const [oh, ow] = [Math.ceil(h / stride), Math.ceil(w / stride)];
    const top = Math.floor(Math.max((oh - 1) * stride + k - h, 0) / 2);
    const left = Math.floor(Math.max((ow - 1) * stride + k - w, 0) / 2);
    const data = x.dataSync();
    for (let b = 0; b < n; b++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let ch = 0; ch < c; ch++) {
            const window: number[] = [];
            for (let r = i * stride - top; r < i * stride - top + k; r++)
              for (let q = j * stride - left; q < j * stride - left + k; q++)
                if (r >= 0 && r < h && q >= 0 && q < w)
                  window.push(data[((b * h + r) * w + q) * c + ch] as number);
            gap(window);
          }
  });
  const logits = values[values.length - 1] as tf.Tensor2D;
  for (const row of logits.arraySync()) gap(row);
  tf.dispose(values);
  return closest;
}

/** Largest |a - b| relative to the largest |b|, elementwise over flat arrays. */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let j = 0; j < a.length; j++) {
    diff = Math.max(diff, Math.abs((a[j] as number) - (b[j] as number)));
    scale = Math.max(scale, Math.abs(b[j] as number));
  }
  return diff / scale;
}

const weightValues = (model: tfl.LayersModel) =>
  model.getWeights().map((w) => w.dataSync() as Float32Array);

/**
 * What one training step did to `model` (weights `before` it): each trainable weight's change
 * (with SGD from rest, the learning rate times its gradient plus decay), and each BatchNorm
 * layer's batch mean and variance, recovered from its moving statistics.
 */
function stepEffects(model: tfl.LayersModel, before: Float32Array[]) {
  const after = weightValues(model);
  const index = new Map(model.weights.map((w, i) => [w.originalName, i]));
  const value = (values: Float32Array[], name: string) =>
    values[index.get(name) as number] as Float32Array;
  const changes = new Map(
    model.trainableWeights.map((w) => {
      const [a, b] = [value(after, w.originalName), value(before, w.originalName)];
      return [w.originalName, a.map((v, j) => v - (b[j] as number))];
    }),
  );
  // tfjs-layers: moving <- moving - (moving - batch) * (1 - momentum).
  const batch = (layer: tfl.layers.Layer, name: string) => {
    const momentum = (layer.getConfig() as { momentum: number }).momentum;
    const [a, b] = [value(after, `${layer.name}/${name}`), value(before, `${layer.name}/${name}`)];
    return a.map((v, j) => (b[j] as number) + (v - (b[j] as number)) / (1 - momentum));
  };
  const statistics = new Map(
    model.layers
      .filter((l) => l.getClassName() === 'BatchNormalization')
      .map((l) => [
        l.name,
        { mean: batch(l, 'moving_mean'), variance: batch(l, 'moving_variance') },
      ]),
  );
  return { changes, statistics };
}

describe('data-parallel training', () => {
  it('splits batches as evenly as possible', () => {
    assert.deepEqual(splitSizes(32, 2), [16, 16]);
    assert.deepEqual(splitSizes(7, 3), [2, 2, 3]);
  });

  // SGD: its update is linear in the gradients, so rounding-level gradient differences stay
  // rounding-level. (Adam divides each gradient element by its own running magnitude, so an
  // element whose gradient is float noise, ~1e-9, takes a full +-lr step of random sign.)
  const sgd: OptimizerSpec = { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
  const stepOptions = { labelSmoothing: 0.1, weightDecay: sgd.weightDecay };

  /** Trains `single` on whole batches and `parallel` (same weights) split over replicas. */
  async function trainBoth(
    single: tfl.LayersModel,
    parallel: tfl.LayersModel,
    replicas: number,
    batches: ReturnType<typeof batch>[],
  ): Promise<void> {
    const optimizers = [createOptimizer(sgd, 0.01), createOptimizer(sgd, 0.01)] as const;
    const stepA = createMeasuredTrainStep(single, optimizers[0], stepOptions);
    const group = await createDataParallelTrainStep(parallel, optimizers[1], {
      ...stepOptions,
      replicas,
    });
    try {
      batches.forEach(({ images, labels }, s) => {
        // The schedule changes the rate between steps: the replicas must follow.
        optimizers.forEach((o) => o.setLearningRate(0.01 / (s + 1)));
        const a = stepA(images, labels);
        const b = group.step(images, labels);
        assert.ok(
          Math.abs(a.loss - b.loss) < 1e-5 * a.loss,
          `step ${s} loss ${a.loss} vs ${b.loss}`,
        );
        assert.equal(a.correct, b.correct, `step ${s} correct`);
      });
    } finally {
      await group.close();
      optimizers.forEach((o) => o.dispose());
    }
  }

  // The replicas compute the same sums as one replica in another order, on other kernels (each
  // part of the batch on one thread; the tfjs batch norm with all-reduced statistics), so their
  // activations differ from one replica's by float32 rounding, about 1e-6 of their unit size
  // after batch norm. A decision that close can go the other way, and the gradient then jumps:
  // the max pool routes a pixel's gradient to another pixel, a ReLU or sign passes or stops it.
  // (Seen on AVX2 kernels: a max-pool window of the stem whose two largest values were 1.2e-6
  // apart moved one channel of the stem's update by 1e-1; then every weight drifts apart.)
  // So the batch below decides everything by at least CLOSEST_DECISION (checked first), and the
  // step's effects must agree to TOLERANCE: each gradient relative to its largest element, each
  // batch mean relative to its channel's standard deviation, each variance relative to itself.
  // Measured: up to 1.5e-4 (the last stage's BatchNorm gamma, sums of 8 terms that cancel), on
  // AVX-512 and AVX2 kernels alike.
  const CLOSEST_DECISION = 1e-5;
  const TOLERANCE = 1e-3;
  const BATCH_SEED = 4;
  for (const [name, replicas] of [
    ['resnet18', 2],
    ['bireal18', 3],
  ] as const) {
    it(`${name}: one step of ${replicas} replicas gives the gradients and batch statistics of one on the whole batch`, async () => {
      const options = { inputSize: 32, classes: 6, width: 0.25, seed: 3 };
      const [single, parallel, probe] = [0, 1, 2].map(() => createModel(name, options)) as [
        tfl.LayersModel,
        tfl.LayersModel,
        tfl.LayersModel,
      ];
      const data = batch(8, BATCH_SEED);
      const closest = closestDecision(probe, data.images);
      assert.ok(closest >= CLOSEST_DECISION, `a decision of the batch is within ${closest}`);
      const before = weightValues(single);
      await trainBoth(single, parallel, replicas, [data]);
      const [a, b] = [stepEffects(single, before), stepEffects(parallel, before)];
      for (const [weight, change] of a.changes) {
        const diff = relativeDifference(b.changes.get(weight) as Float32Array, change);
        assert.ok(diff < TOLERANCE, `${weight}: gradients differ by ${diff} (relative)`);
      }
      for (const [layer, { mean, variance }] of a.statistics) {
        const other = b.statistics.get(layer) as typeof a.statistics extends Map<string, infer S>
          ? S
          : never;
        mean.forEach((m, c) => {
          const diff = Math.abs(m - (other.mean[c] as number)) / Math.sqrt(variance[c] as number);
          assert.ok(diff < TOLERANCE, `${layer} channel ${c}: batch means differ by ${diff} std`);
        });
        const diff = relativeDifference(other.variance, variance);
        assert.ok(diff < TOLERANCE, `${layer}: batch variances differ by ${diff} (relative)`);
      }
      tf.dispose(Object.values(data));
      [single, parallel, probe].forEach((m) => m.dispose());
    });
  }

  // Without max pools, ReLUs or signs the training step is a smooth function of the weights, so
  // the replicas stay within rounding of one replica over several steps: a check that the
  // optimizer's state (momentum) and the learning rate schedule stay in step too.
  it('a smooth net: 2 replicas follow one on the whole batch over several steps', async () => {
    const smoothNet = () => {
      const input = tfl.input({ shape: [32, 32, 3] });
      const conv = (filters: number, strides: number, seed: number) =>
        tfl.layers.conv2d({
          filters,
          kernelSize: 3,
          strides,
          padding: 'same',
          useBias: false,
          kernelInitializer: tfl.initializers.heNormal({ seed }),
        });
      let x = conv(8, 2, 1).apply(input) as tfl.SymbolicTensor;
      x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
      x = conv(16, 2, 2).apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
      const logits = tfl.layers
        .dense({ units: 6, kernelInitializer: tfl.initializers.glorotNormal({ seed: 3 }) })
        .apply(x) as tfl.SymbolicTensor;
      return tfl.model({ inputs: input, outputs: logits });
    };
    const [single, parallel] = [smoothNet(), smoothNet()];
    const before = weightValues(single);
    const batches = [1, 2, 3].map((seed) => batch(8, seed));
    await trainBoth(single, parallel, 2, batches);
    const [a, b] = [weightValues(single), weightValues(parallel)];
    single.weights.forEach((w, i) => {
      const start = before[i] as Float32Array;
      const [changeA, changeB] = [a, b].map((values) =>
        (values[i] as Float32Array).map((v, j) => v - (start[j] as number)),
      ) as [Float32Array, Float32Array];
      const diff = relativeDifference(changeB, changeA);
      assert.ok(diff < TOLERANCE, `${w.originalName}: changes differ by ${diff} (relative)`);
    });
    batches.forEach((x) => tf.dispose(Object.values(x)));
    [single, parallel].forEach((m) => m.dispose());
  });

  it('refuses a batch smaller than the number of replicas', async () => {
    const model = createModel('resnet18', { inputSize: 32, classes: 6, width: 0.25 });
    const group = await createDataParallelTrainStep(
      model,
      createOptimizer({ type: 'adam', lr: 0.01, weightDecay: 0 }, 1e-3),
      {
        replicas: 2,
      },
    );
    const { images, labels } = batch(1, 0);
    assert.throws(() => group.step(images, labels), /batch of 1 cannot be split over 2 replicas/);
    await group.close();
    tf.dispose([images, labels]);
    model.dispose();
  });

  it('gives this thread its native threads back when a replica fails to start', async () => {
    // A layer class known to this thread only: the replica cannot build the model.
    class MainThreadOnly extends tfl.layers.Layer {
      static className = 'MainThreadOnly';
    }
    tf.serialization.registerClass(MainThreadOnly);
    const input = tfl.input({ shape: [4, 4, 3] });
    const x = new MainThreadOnly({}).apply(input) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 6 }).apply(flat) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: logits });
    const threads = nativeInfo()?.threads;
    await assert.rejects(
      createDataParallelTrainStep(
        model,
        createOptimizer({ type: 'adam', lr: 0.01, weightDecay: 0 }, 1e-3),
        { replicas: 2 },
      ),
      /replica failed: .*MainThreadOnly/,
    );
    assert.equal(nativeInfo()?.threads, threads);
    model.dispose();
  });

  it('wakes the other replicas with an error when one fails, instead of hanging', async () => {
    const group = createSharedGroup(2, 4);
    const url = new URL('../src/parallel/collective.js', import.meta.url).href;
    const worker = new Worker(
      `import(${JSON.stringify(url)}).then(({ failGroup }) => failGroup(require('node:worker_threads').workerData));`,
      { eval: true, workerData: group },
    );
    const collective = new SharedMemoryCollective(group, 0);
    assert.throws(() => collective.allReduceSum(new Float32Array([1, 2])), ReplicaFailedError);
    await worker.terminate();
  });

  it('sums over replicas identically in every replica, in chunks', async () => {
    const group = createSharedGroup(2, 3);
    const url = new URL('../src/parallel/collective.js', import.meta.url).href;
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(${JSON.stringify(url)}).then(({ SharedMemoryCollective }) => {
         const c = new SharedMemoryCollective(workerData, 1);
         parentPort.postMessage(Array.from(c.allReduceSum(new Float32Array([10, 20, 30, 40, 50, 60, 70]))));
       });`,
      { eval: true, workerData: group },
    );
    const theirs = new Promise((resolve) => worker.once('message', resolve));
    const ours = new SharedMemoryCollective(group, 0).allReduceSum(
      new Float32Array([1, 2, 3, 4, 5, 6, 7]),
    );
    assert.deepEqual(Array.from(ours), [11, 22, 33, 44, 55, 66, 77]);
    assert.deepEqual(await theirs, Array.from(ours));
    await worker.terminate();
  });
});
