/**
 * Training-step benchmark: images/s of a `bireal18` step (forward + backward + Adam) at several
 * input sizes, with the time split into forward, backward and optimizer, and peak memory.
 *
 *   npm run bench -- train [--sizes 64,128,224] [--batch 32] [--steps 3] [--replicas 1,2]
 *                          [--backend wasm|cpu]
 *
 * --replicas: data-parallel threads (src/parallel); each count is benchmarked. Default: the
 * training default (1 with the native kernels, else 2 on 2 cores).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend, type BackendName } from '../src/backend/index.js';
import { createModel } from '../src/models/index.js';
import { createDataParallelTrainStep, defaultReplicas } from '../src/parallel/index.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { createMeasuredTrainStep } from '../src/train/step.js';

interface Timing {
  size: number;
  replicas: number;
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

/**
 * Steps run before timing, on both sides of `bench torch` (bench/torch_bireal.py takes the same
 * number): kernel set-up, optimizer slots, and the first touch of the memory a step needs,
 * whose page faults cost several ms per 10 MB on this project's virtual machines.
 */
export const WARMUP_STEPS = 3;

/**
 * Times `steps` training steps of bireal18 (10 classes, Adam) at one input size, split over
 * `replicas` threads, after {@link WARMUP_STEPS} warm-up steps (the first profiled for the peak
 * tensor memory). Forward/backward/optimizer times are those
 * of this thread (replica 0); images/s is from the whole step's wall time.
 */
export async function benchTrainStep(
  size: number,
  batch: number,
  steps: number,
  replicas = 1,
): Promise<Timing> {
  const model = createModel('bireal18', { inputSize: size, classes: 10, seed: 0 });
  const optimizer = createOptimizer({ type: 'adam', lr: 1e-3, weightDecay: 0 }, 1e-3);
  const parallel =
    replicas > 1 ? await createDataParallelTrainStep(model, optimizer, { replicas }) : undefined;
  const step = parallel?.step ?? createMeasuredTrainStep(model, optimizer);
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const classes = tf.randomUniform([batch], 0, 10, 'int32', 2) as tf.Tensor1D;
  const labels = tf.cast(tf.oneHot(classes, 10), 'float32') as tf.Tensor2D;
  classes.dispose();
  const times: number[] = [];
  const forward: number[] = [];
  const backward: number[] = [];
  const update: number[] = [];
  let peakRss = 0;
  const profile = await tf.profile(() => void step(images, labels));
  for (let i = 1; i < WARMUP_STEPS; i++) step(images, labels);
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const { timing } = step(images, labels);
    times.push(performance.now() - start);
    forward.push(timing?.forwardMs ?? NaN);
    backward.push(timing?.backwardMs ?? NaN);
    update.push(timing?.optimizerMs ?? NaN);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  await parallel?.close();
  tf.dispose([images, labels]);
  optimizer.dispose();
  model.dispose();
  return {
    size,
    replicas,
    imagesPerSecond: (batch * 1000) / median(times),
    forwardMs: median(forward),
    backwardMs: median(backward),
    optimizerMs: median(update),
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
      replicas: { type: 'string' },
      backend: { type: 'string' },
    },
  });
  await initBackend({ backend: values.backend as BackendName | undefined, log: false });
  const replicaCounts = [
    ...new Set((values.replicas ?? String(defaultReplicas())).split(',').map(Number)),
  ];
  const batch = Number(values.batch);
  console.log(
    `bireal18 training step, batch ${batch}, 10 classes, Adam; backend ${describeBackend()}; median of ${values.steps} steps after ${WARMUP_STEPS} warm-up steps`,
  );
  console.log(
    'size  replicas  images/s  forward ms  backward ms  optimizer ms  peak tensors MB  peak RSS MB',
  );
  for (const size of values.sizes.split(',').map(Number)) {
    for (const replicas of replicaCounts) {
      const r = await benchTrainStep(size, batch, Number(values.steps), replicas);
      console.log(
        [
          String(r.size).padStart(4),
          String(r.replicas).padStart(9),
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
}
