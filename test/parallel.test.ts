import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
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

/** Largest |a - b| over all weights, relative to the largest |b|. */
function relativeDifference(a: tf.Tensor[], b: tf.Tensor[]): number {
  let diff = 0;
  let scale = 0;
  a.forEach((t, i) => {
    const x = t.dataSync();
    const y = (b[i] as tf.Tensor).dataSync();
    for (let j = 0; j < x.length; j++) {
      diff = Math.max(diff, Math.abs((x[j] as number) - (y[j] as number)));
      scale = Math.max(scale, Math.abs(y[j] as number));
    }
  });
  return diff / scale;
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
  const cases: [string, OptimizerSpec, number][] = [
    ['resnet18', sgd, 2],
    ['bireal18', sgd, 3],
  ];
  for (const [name, spec, replicas] of cases) {
    it(`${name}, ${spec.type}: ${replicas} replicas reach the weights of one on the whole batch`, async () => {
      const options = { inputSize: 32, classes: 6, width: 0.25, seed: 3 };
      const single = createModel(name, options);
      const parallel = createModel(name, options);
      const optimizerA = createOptimizer(spec, 0.01);
      const optimizerB = createOptimizer(spec, 0.01);
      const stepOptions = { labelSmoothing: 0.1, weightDecay: spec.weightDecay };
      const stepA = createMeasuredTrainStep(single, optimizerA, stepOptions);
      const group = await createDataParallelTrainStep(parallel, optimizerB, {
        ...stepOptions,
        replicas,
      });
      try {
        for (let s = 0; s < 3; s++) {
          const { images, labels } = batch(8, s + 1); // tfjs ignores a seed of 0
          // The schedule changes the rate between steps: the replicas must follow.
          optimizerA.setLearningRate(0.01 / (s + 1));
          optimizerB.setLearningRate(0.01 / (s + 1));
          const a = stepA(images, labels);
          const b = group.step(images, labels);
          assert.ok(Math.abs(a.loss - b.loss) < 1e-4, `step ${s} loss ${a.loss} vs ${b.loss}`);
          assert.equal(a.correct, b.correct);
          tf.dispose([images, labels]);
        }
        // All weights, BatchNorm moving statistics included.
        const diff = relativeDifference(parallel.getWeights(), single.getWeights());
        assert.ok(diff < 1e-4, `weights differ by ${diff} (relative)`);
      } finally {
        await group.close();
      }
      optimizerA.dispose();
      optimizerB.dispose();
      single.dispose();
      parallel.dispose();
    });
  }

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
