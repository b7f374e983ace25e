import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { BinaryConv2D } from '../src/layers/index.js';
import { MODEL_NAMES, createModel } from '../src/models/index.js';
import { initFromReal } from '../src/models/init.js';
import { createTrainStep, trainableVariables, trainingLoss } from '../src/train/step.js';

const small = { inputSize: 32, smallInput: true, classes: 10, width: 0.25, seed: 1 } as const;

function countOf(model: tfl.LayersModel, className: string): number {
  return model.layers.filter((l) => l.getClassName() === className).length;
}

function randomBatch(n: number, size: number, classes: number, seed: number) {
  const images = tf.randomNormal([n, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: n }, (_, i) => i % classes),
      'int32',
    ),
    classes,
  );
  return { images, labels: tf.cast(labels, 'float32') as tf.Tensor2D };
}

before(async () => {
  await initBackend({ log: false });
});

describe('model registry', () => {
  it('builds every model with the right output shape', () => {
    for (const name of MODEL_NAMES) {
      const model = createModel(name, small);
      const out = model.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor;
      assert.deepEqual(out.shape, [2, 10], name);
      tf.dispose(out);
      model.dispose();
    }
  });

  it('follows the paper: one binary conv per block, 1x1 shortcuts after avg-pooling, no ReLU', () => {
    const bireal18 = createModel('bireal18', { seed: 0 });
    assert.deepEqual(bireal18.outputs[0]?.shape, [null, 1000]);
    assert.equal(countOf(bireal18, 'BinaryConv2D'), 16);
    assert.equal(countOf(bireal18, 'Add'), 16); // a real shortcut around every binary conv
    assert.equal(countOf(bireal18, 'ReLU'), 0);
    assert.equal(countOf(bireal18, 'AveragePooling2D'), 3);
    assert.equal(countOf(bireal18, 'Conv2D'), 4); // stem + three 1x1 downsampling convs
    assert.deepEqual(bireal18.getLayer('stem_pool').outputShape, [null, 56, 56, 64]);
    assert.deepEqual(bireal18.getLayer('s4_conv1').outputShape, [null, 7, 7, 512]);
    const stemNext = bireal18
      .getLayer('stem_bn')
      .outboundNodes.map((n) => n.outboundLayer.getClassName());
    assert.deepEqual(stemNext, ['MaxPooling2D']); // BatchNorm straight into max-pool
    bireal18.dispose();

    const bireal34 = createModel('bireal34', { inputSize: 64, classes: 10 });
    assert.equal(countOf(bireal34, 'BinaryConv2D'), 32);
    bireal34.dispose();

    const plain = createModel('plain-binary-resnet18', small);
    assert.equal(countOf(plain, 'BinaryConv2D'), 16);
    assert.equal(countOf(plain, 'Add'), 8); // one shortcut per pair of binary convs
    plain.dispose();

    const resnet = createModel('resnet18', { ...small, activation: 'clip' });
    assert.equal(countOf(resnet, 'Clip'), 17);
    assert.equal(countOf(resnet, 'BinaryConv2D'), 0);
    resnet.dispose();
  });

  it('applies the width multiplier and the small-input stem', () => {
    const model = createModel('bireal18', {
      inputSize: 32,
      smallInput: true,
      width: 0.5,
      classes: 10,
    });
    assert.deepEqual(model.getLayer('stem_conv').outputShape, [null, 32, 32, 32]);
    assert.deepEqual(model.getLayer('s4_conv4').outputShape, [null, 4, 4, 256]);
    model.dispose();
  });

  it('rejects an unknown model name, listing the valid names', () => {
    assert.throws(
      () => createModel('bireal50'),
      /unknown model 'bireal50'; valid: bireal18, bireal34, resnet18/,
    );
    assert.throws(() => createModel('bireal18', { classes: 0 }), /classes must be positive/);
  });

  it('initialises every weight the same for the same seed, 0 included', () => {
    for (const seed of [0, 7]) {
      const [a, b] = [
        createModel('bireal18', { ...small, seed }),
        createModel('bireal18', { ...small, seed }),
      ];
      a.getWeights().forEach((w, i) =>
        assert.deepEqual(
          w.dataSync(),
          (b.getWeights()[i] as tf.Tensor).dataSync(),
          `seed ${seed}, weight ${i}`,
        ),
      );
      a.dispose();
      b.dispose();
    }
  });

  it('passes the estimator and binarizer to every binary conv', () => {
    const model = createModel('bireal18', { ...small, estimator: 'ste', binarizer: 'scaled' });
    const convs = model.layers.filter((l): l is BinaryConv2D => l instanceof BinaryConv2D);
    assert.ok(convs.every((l) => l.estimator === 'ste' && l.binarizer === 'scaled'));
    model.dispose();
  });
});

describe('training', () => {
  it('bireal18: a finite, non-zero gradient reaches every trainable weight', () => {
    const model = createModel('bireal18', { inputSize: 64, classes: 10, seed: 3 });
    const { images, labels } = randomBatch(2, 64, 10, 4);
    const variables = trainableVariables(model);
    const { value, grads } = tf.variableGrads(() => trainingLoss(model, images, labels), variables);
    assert.ok(Number.isFinite(value.dataSync()[0]));
    assert.equal(Object.keys(grads).length, variables.length);
    for (const v of variables) {
      const g = grads[v.name] as tf.Tensor;
      const norm = tf.norm(g).dataSync()[0] as number;
      assert.ok(Number.isFinite(norm) && norm > 0, `gradient of ${v.name}: norm ${norm}`);
    }
    tf.dispose([value, grads, images, labels]);
    model.dispose();
  });

  it('does not leak tensors across 20 training steps', () => {
    const model = createModel('bireal18', small);
    const optimizer = tf.train.adam(1e-3);
    const step = createTrainStep(model, optimizer);
    const { images, labels } = randomBatch(4, 32, 10, 5);
    step(images, labels); // the first step creates the optimizer's slots
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push(step(images, labels));
    assert.equal(tf.memory().numTensors, before);
    assert.ok(
      (losses.at(-1) as number) < (losses[0] as number),
      `loss should fall on a fixed batch: ${losses}`,
    );
    tf.dispose([images, labels]);
    optimizer.dispose();
    model.dispose();
  });

  it('stops with a clear error on a NaN loss', () => {
    const model = createModel('bireal18', small);
    const step = createTrainStep(model, tf.train.sgd(0.1));
    const images = tf.fill([2, 32, 32, 3], NaN) as tf.Tensor4D;
    const labels = tf.cast(tf.oneHot(tf.tensor1d([0, 1], 'int32'), 10), 'float32') as tf.Tensor2D;
    assert.throws(() => step(images, labels), /loss is NaN/);
    model.dispose();
  });
});

describe('serialization', () => {
  it('save + load reproduces outputs bit for bit', async () => {
    const model = createModel('bireal18', {
      ...small,
      estimator: 'clipped-ste',
      binarizer: 'magnitude-aware-authors',
    });
    // Move the BatchNorm statistics away from their initial values first.
    const step = createTrainStep(model, tf.train.adam(1e-2));
    const { images, labels } = randomBatch(4, 32, 10, 6);
    for (let i = 0; i < 3; i++) step(images, labels);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    assert.ok(artifacts);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const convs = loaded.layers.filter((l): l is BinaryConv2D => l instanceof BinaryConv2D);
    assert.equal(convs.length, 16);
    assert.equal(convs[0]?.estimator, 'clipped-ste');
    assert.equal(convs[0]?.binarizer, 'magnitude-aware-authors');
    const a = (model.predict(images) as tf.Tensor).dataSync();
    const b = (loaded.predict(images) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a));
    model.dispose();
    loaded.dispose();
  });
});

describe('two-stage initialisation', () => {
  it('copies a real resnet18 (clip) into bireal18 layer by layer', () => {
    const real = createModel('resnet18', { ...small, activation: 'clip', seed: 7 });
    const binary = createModel('bireal18', { ...small, seed: 8 });
    const report = initFromReal(binary, real);
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.mismatched, []);
    assert.deepEqual(report.unused, []);
    const withWeights = binary.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    assert.deepEqual(report.copied, withWeights);
    for (const name of ['stem_conv', 's2_conv3', 's3_down_conv', 's4_bn4', 'fc']) {
      const from = real.getLayer(name).getWeights();
      const to = binary.getLayer(name).getWeights();
      from.forEach((w, i) =>
        assert.deepEqual(Array.from(to[i]?.dataSync() ?? []), Array.from(w.dataSync()), name),
      );
    }
    real.dispose();
    binary.dispose();
  });

  it("copies a real net of Bi-Real's structure (block 'bireal') into every layer of bireal18", () => {
    const real = createModel('resnet18', { ...small, block: 'bireal', activation: 'leaky-clip' });
    const binary = createModel('bireal18', small);
    const report = initFromReal(binary, real);
    assert.deepEqual([report.missing, report.mismatched, report.unused], [[], [], []]);
    assert.deepEqual(
      report.copied,
      binary.layers.filter((l) => l.weights.length > 0).map((l) => l.name),
    );
    assert.equal(real.countParams(), binary.countParams());
    real.dispose();
    binary.dispose();
  });

  it('reports layers it could not copy', () => {
    const real = createModel('resnet18', { ...small, classes: 5 });
    const binary = createModel('bireal34', small);
    const report = initFromReal(binary, real);
    assert.deepEqual(
      report.mismatched.map((m) => m.layer),
      ['fc'],
    );
    assert.ok(report.missing.includes('s1_conv5') && report.missing.includes('s3_bn12'));
    assert.ok(report.copied.includes('s1_conv4'));
    assert.deepEqual(report.unused, []);
    real.dispose();
    binary.dispose();
  });
});
