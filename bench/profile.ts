/**
 * Kernel profile of one `bireal18` training step (forward + layer-wise backward + Adam): total
 * milliseconds, calls and GFLOP/s where known, per kernel name, largest first.
 *
 *   npm run bench -- profile [--size 128] [--batch 32] [--backend wasm|cpu] [--top 15]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend, type BackendName } from '../src/backend/index.js';
import { createModel } from '../src/models/index.js';
import { lossAndGradients } from '../src/backprop/index.js';
import { createOptimizer } from '../src/train/optimizer.js';

/** Per-kernel time of a profiled call of `fn`. */
export async function kernelProfile(
  fn: () => void,
): Promise<{ name: string; ms: number; calls: number }[]> {
  const info = await tf.profile(fn);
  const totals = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const t = totals.get(k.name) ?? { ms: 0, calls: 0 };
    t.ms += (await k.kernelTimeMs) as number;
    t.calls += 1;
    totals.set(k.name, t);
  }
  return [...totals].map(([name, t]) => ({ name, ...t })).sort((a, b) => b.ms - a.ms);
}

/** Runs the profile from command-line arguments. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string', default: '128' },
      batch: { type: 'string', default: '32' },
      backend: { type: 'string' },
      top: { type: 'string', default: '15' },
    },
  });
  await initBackend({ backend: values.backend as BackendName | undefined, log: false });
  const size = Number(values.size);
  const batch = Number(values.batch);
  const model = createModel('bireal18', { inputSize: size, classes: 10, seed: 0 });
  const optimizer = createOptimizer({ type: 'adam', lr: 1e-3, weightDecay: 0 }, 1e-3);
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
  const step = () => {
    const { grads } = lossAndGradients(model, images, tf.cast(labels, 'float32') as tf.Tensor2D);
    optimizer.applyGradients(grads as Record<string, tf.Variable>);
    tf.dispose(grads);
  };
  // Warm-up: kernel set-up, optimizer slots, and the first touch of the memory the step needs
  // (a page fault per fresh 4 KiB page costs microseconds on virtual machines).
  for (let i = 0; i < 3; i++) step();
  const t0 = performance.now();
  const kernels = await kernelProfile(step);
  const wall = performance.now() - t0;
  const total = kernels.reduce((s, k) => s + k.ms, 0);
  console.log(
    `bireal18 training step, ${size} px, batch ${batch}, Adam; ${describeBackend()}; step ${wall.toFixed(0)} ms wall, ${total.toFixed(0)} ms in kernels`,
  );
  console.log('kernel                        ms   share  calls');
  for (const k of kernels.slice(0, Number(values.top))) {
    console.log(
      `${k.name.padEnd(24)} ${k.ms.toFixed(0).padStart(8)} ${((100 * k.ms) / total).toFixed(1).padStart(6)}% ${String(k.calls).padStart(6)}`,
    );
  }
}
