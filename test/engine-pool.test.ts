import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { createModel } from '../src/models/index.js';
import { exportModel, PackedNet, PackedNetPool } from '../src/engine/index.js';

describe('packed engine on worker threads', () => {
  const size = 40;
  const length = size * size * 3;
  let bytes: Uint8Array;
  let net: PackedNet;
  let pool: PackedNetPool;

  before(async () => {
    await initBackend({ log: false });
    const model = createModel('bireal18', { classes: 10, inputSize: size, width: 0.25, seed: 7 });
    bytes = exportModel(model, {
      model: 'bireal18',
      modelOptions: {},
      preprocessing: { size, channels: 3, mean: [0, 0, 0], std: [1, 1, 1], resizeRatio: 1 },
      labels: Array.from({ length: 10 }, (_, i) => `class ${i}`),
      source: {},
    });
    model.dispose();
    net = await PackedNet.load(bytes);
    pool = await PackedNetPool.load(bytes, 2);
  });
  after(() => pool.close());

  it('gives every image of a batch the logits of the one-thread engine, in order', async () => {
    // 5 images over 2 threads: shares of 3 and 2.
    const n = 5;
    const images = tf.tidy(() => tf.randomNormal([n * length], 0, 1, 'float32', 1).dataSync());
    const logits = await pool.runBatch(images as Float32Array, n);
    assert.equal(pool.size, 2);
    assert.equal(logits.length, n * 10);
    for (let i = 0; i < n; i++) {
      const expected = net.run((images as Float32Array).subarray(i * length, (i + 1) * length));
      assert.deepEqual(logits.subarray(i * 10, (i + 1) * 10), expected, `image ${i}`);
    }
    // Fewer images than threads: one share is empty.
    const one = await pool.runBatch((images as Float32Array).slice(0, length), 1);
    assert.deepEqual(one, net.run((images as Float32Array).subarray(0, length)));
  });

  it('names what is wrong with bad input', async () => {
    await assert.rejects(pool.runBatch(new Float32Array(length + 1), 1), /1 images need 4800/);
    await assert.rejects(PackedNetPool.load(bytes, 0), /threads must be a positive integer/);
    await assert.rejects(PackedNetPool.load(bytes.subarray(0, 20), 2, 'cut.bireal'), /cut\.bireal/);
  });
});
