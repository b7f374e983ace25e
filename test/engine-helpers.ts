/** Helpers of the engine's tests (test/engine.test.ts, test/onnx.test.ts). */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { keyedRandom } from '../src/data/random.js';
import type { ExportInfo } from '../src/engine/index.js';

/** Export info of a test model: `size` px, no normalisation, no labels. */
export function info(size: number, channels: 1 | 3 = 3): ExportInfo {
  return {
    model: 'test',
    modelOptions: {},
    preprocessing: { size, channels, mean: [0, 0, 0], std: [1, 1, 1], resizeRatio: 1 },
    labels: [],
    source: {},
  };
}

/** Gives every BatchNorm non-trivial statistics, so that folding them is actually tested. */
export function randomizeBatchNorm(model: tfl.LayersModel, seed: number): void {
  const random = keyedRandom(seed);
  const uniform = (shape: number[], lo: number, hi: number) =>
    tf.tensor(
      Array.from({ length: shape[0] as number }, () => lo + (hi - lo) * random()),
      shape,
    );
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const [gamma, beta, mean, variance] = layer.getWeights().map((w) => w.shape);
    layer.setWeights([
      uniform(gamma as number[], 0.5, 1.5),
      uniform(beta as number[], -0.5, 0.5),
      uniform(mean as number[], -0.5, 0.5),
      uniform(variance as number[], 0.5, 2),
    ]);
  }
}
