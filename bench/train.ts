/**
 * Training-step benchmark: images/s of a `bireal18` step (forward + backward + Adam) at several
 * input sizes, with the time split into forward, backward and optimizer, and peak memory.
 *
 *   npm run bench -- train [--sizes 64,128,224] [--batch 32] [--steps 3] [--backend wasm|cpu]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend, type BackendName } from '../src/backend/index.js';
import { createModel } from '../src/models/index.js';
import { lossAndGradients } from '../src/backprop/index.js';

interface Timing {
  size: number;
  imagesPerSecond: number;
  forwardMs: number;
  backwardMs: number;
  optimizerMs: number;
  peakTensorMB: number;
  peakRssMB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Times `steps` training steps of bireal18 (10 classes) at one input size, after a profiled warm-up step. */
export async function benchTrainStep(size: number, batch: number, steps: number): Promise<Timing> {
  const model = createModel('bireal18', { inputSize: size, classes: 10, seed: 0 });
  const optimizer: tf.Optimizer = tf.train.adam(1e-3);
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const classes = tf.randomUniform([batch], 0, 10, 'int32', 2) as tf.Tensor1D;
  const labels = tf.cast(tf.oneHot(classes, 10), 'float32') as tf.Tensor2D;
  classes.dispose();
  const forward: number[] = [];
  const backward: number[] = [];
  const update: number[] = [];
  let peakRss = 0;
  const step = () => {
    const result = lossAndGradients(model, images, labels);
    const t = performance.now();
    optimizer.applyGradients(result.grads);
    tf.dispose(result.grads);
    return { ...result, optimizerMs: performance.now() - t };
  };
  // Warm-up step (kernel set-up, optimizer slots), profiled for the peak tensor memory.
  const profile = await tf.profile(() => void step());
  for (let i = 0; i < steps; i++) {
    const { forwardMs, backwardMs, optimizerMs } = step();
    forward.push(forwardMs);
    backward.push(backwardMs);
    update.push(optimizerMs);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  tf.dispose([images, labels]);
  optimizer.dispose();
  model.dispose();
  const [f, b, o] = [median(forward), median(backward), median(update)];
  return {
    size,
    imagesPerSecond: (batch * 1000) / (f + b + o),
    forwardMs: f,
    backwardMs: b,
    optimizerMs: o,
    peakTensorMB: profile.peakBytes / 2 ** 20,
    peakRssMB: peakRss / 2 ** 20,
  };
}

/** Runs the benchmark from command-line arguments. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: 'string', default: '64,128,224' },
      batch: { type: 'string', default: '32' },
      steps: { type: 'string', default: '3' },
      backend: { type: 'string' },
    },
  });
  await initBackend({ backend: values.backend as BackendName | undefined, log: false });
  const batch = Number(values.batch);
  console.log(
    `bireal18 training step, batch ${batch}, 10 classes, Adam; backend ${describeBackend()}; median of ${values.steps} steps`,
  );
  console.log(
    'size  images/s  forward ms  backward ms  optimizer ms  peak tensors MB  peak RSS MB',
  );
  for (const size of values.sizes.split(',').map(Number)) {
    const r = await benchTrainStep(size, batch, Number(values.steps));
    console.log(
      [
        String(r.size).padStart(4),
        r.imagesPerSecond.toFixed(2).padStart(9),
        r.forwardMs.toFixed(0).padStart(11),
        r.backwardMs.toFixed(0).padStart(12),
        r.optimizerMs.toFixed(0).padStart(13),
        r.peakTensorMB.toFixed(0).padStart(16),
        r.peakRssMB.toFixed(0).padStart(12),
      ].join(' '),
    );
  }
}
