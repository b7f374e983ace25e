/**
 * Tests of the packed engine's native kernels (src/engine/native.ts, native/engine.cc) against
 * its wasm kernels, on every instruction set of the 1-bit kernels this CPU runs (AVX-512
 * VPOPCNTDQ and AVX2 on an AVX-512 host): layer by layer, each fed the wasm engine's input to it,
 * the 1-bit convolutions (and so the sign packing) and the pooling give identical floats, the
 * float convs and dense layers (oneDNN) agree within 1e-5, at every step of whole runs. Also the choice of kernels
 * (options, BIREAL_ENGINE_ISA, BIREAL_NATIVE=0) and clear errors on bad arguments.
 *
 * `BIREAL_NATIVE=0` skips the suite; otherwise a missing addon fails it (CI must build it).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/backend/index.js';
import { BinaryConv2D } from '../src/layers/index.js';
import { createModel, type ModelName, type ModelOptions } from '../src/models/index.js';
import {
  exportModel,
  nativeIsas,
  PackedNet,
  type DeployOp,
  type NativeIsa,
} from '../src/engine/index.js';
import { info, randomizeBatchNorm } from './engine-helpers.js';

const NATIVE_OFF = process.env['BIREAL_NATIVE'] === '0';

/** Largest |a - b| relative to the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let [diff, scale] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

/** A normal random image for `net`, from `seed`. */
function image(net: PackedNet, seed: number): Float32Array {
  return tf.tidy(
    () => tf.randomNormal([net.inputSize], 0, 1, 'float32', seed).dataSync() as Float32Array,
  );
}

/** The deploy file of `model` at `size` px, then the model disposed. */
function deploy(model: tfl.LayersModel, size: number): Uint8Array {
  const bytes = exportModel(model, info(size));
  model.dispose();
  return bytes;
}

/**
 * Loads `bytes` on wasm and on the native kernels with `isa`, runs the native engine end to end
 * on two images and checks every operation's output in that run against the wasm kernels' on
 * the same input: identical for the 1-bit convolutions (and so the sign packing), the pooling
 * and the steps both run on wasm, within 1e-5 for the float convs and dense layers. (The logits of the two engines differ
 * more than that: a float layer's rounding can flip a sign that the next 1-bit layer reads.)
 */
async function compareEngines(bytes: Uint8Array, isa: NativeIsa): Promise<Set<DeployOp['op']>> {
  const wasm = await PackedNet.load(bytes, undefined, 'test', { native: false });
  const native = await PackedNet.load(bytes, undefined, 'test', { native: true, isa });
  assert.equal(wasm.backend, 'wasm');
  assert.equal(native.backend, `native ${isa}`);
  for (const seed of [1, 2]) {
    native.run(image(native, seed));
    for (const [index, op] of native.header.ops.entries()) {
      for (const name of [op.input, op.op === 'binaryConv' ? op.residual : undefined]) {
        if (name !== undefined) wasm.write(name, native.tensor(name));
      }
      wasm.runOperation(index);
      const [got, expected] = [native.tensor(op.output), wasm.tensor(op.output)];
      const where = `${op.name} (${op.op}), ${isa}, image ${seed}`;
      if (['conv', 'dense'].includes(op.op)) {
        const error = relativeError(got, expected);
        assert.ok(error < 1e-5, `${where}: relative error ${error}`);
      } else {
        assert.deepEqual(got, expected, where);
      }
    }
  }
  return new Set(native.header.ops.map((op) => op.op));
}

describe(
  'packed engine on native kernels',
  { skip: NATIVE_OFF ? 'BIREAL_NATIVE=0: native kernels turned off' : false },
  () => {
    let isas: NativeIsa[] = [];
    before(async () => {
      await initBackend({ log: false });
      isas = await nativeIsas().catch((error: Error) => {
        throw new Error(`${error.message} (set BIREAL_NATIVE=0 to skip these tests)`);
      });
    });

    it('runs the 1-bit kernels on AVX-512 VPOPCNTDQ where the CPU has it, else AVX2', () => {
      assert.ok(isas.includes('avx2'), `instruction sets: ${isas.join(', ')}`);
      assert.equal(isas[0], isas.includes('avx512-vpopcntdq') ? 'avx512-vpopcntdq' : 'avx2');
    });

    const models: { name: ModelName; size: number; options: ModelOptions }[] = [
      // 64 to 512 channels (1 to 8 words per pixel), even sizes; then 48 to 384 (1 to 6 words,
      // partial ones), odd sizes at every stage (45, 23, 12, 6, 3, 2); then 8 to 64 channels.
      { name: 'bireal18', size: 64, options: {} },
      { name: 'bireal18', size: 90, options: { width: 0.75 } },
      { name: 'bireal18', size: 50, options: { width: 0.125 } },
      { name: 'bireal34', size: 36, options: { width: 0.25 } },
      { name: 'plain-binary-resnet18', size: 50, options: { width: 0.25 } },
      { name: 'bireal18', size: 32, options: { width: 0.25, smallInput: true } },
      // The real-valued nets: float convs with residuals, ReLU, clip, activations on their own.
      { name: 'resnet18', size: 50, options: { width: 0.125 } },
      { name: 'resnet34', size: 36, options: { width: 0.125, activation: 'clip' } },
      { name: 'resnet18', size: 36, options: { width: 0.125, block: 'bireal' } },
    ];
    for (const { name, size, options } of models) {
      it(`matches wasm layer by layer and end to end: ${name} at ${size} px, ${JSON.stringify(options)}`, async () => {
        const model = createModel(name, { classes: 10, inputSize: size, seed: 3, ...options });
        randomizeBatchNorm(model, 4);
        const bytes = deploy(model, size);
        for (const isa of isas) {
          const kinds = await compareEngines(bytes, isa);
          assert.ok(kinds.has(name.startsWith('resnet') ? 'conv' : 'binaryConv'));
        }
      });
    }

    it('matches wasm on lone 1-bit convs: partial words and channel groups, strides, kernels, padding', async () => {
      // [size, cin, cout, kernel, stride, padding]
      const convs = [
        [7, 4, 8, 3, 2, 'same'],
        [8, 68, 12, 3, 2, 'same'],
        [9, 132, 36, 3, 1, 'same'],
        [2, 12, 4, 3, 2, 'same'],
        [1, 8, 8, 3, 1, 'same'],
        [3, 64, 20, 3, 1, 'same'],
        [6, 20, 4, 1, 2, 'same'],
        [11, 64, 44, 5, 2, 'valid'],
        [10, 200, 16, 3, 1, 'valid'],
        [5, 640, 8, 3, 1, 'same'],
        // 29 words x 9 taps: windows of 261 words, past the per-byte counts' limit of 31 words.
        [3, 1856, 8, 3, 1, 'same'],
      ] as const;
      for (const [size, cin, filters, kernelSize, strides, padding] of convs) {
        const input = tfl.input({ shape: [size, size, cin] });
        const conv = new BinaryConv2D({ filters, kernelSize, strides, padding, seed: size });
        const model = tfl.model({
          inputs: input,
          outputs: conv.apply(input) as tfl.SymbolicTensor,
        });
        const bytes = deploy(model, size);
        for (const isa of isas) await compareEngines(bytes, isa);
      }
    });

    it('picks the kernels by options and BIREAL_ENGINE_ISA, and names bad choices', async () => {
      const model = createModel('bireal18', { classes: 10, inputSize: 32, width: 0.125 });
      const bytes = deploy(model, 32);
      const load = (options = {}) => PackedNet.load(bytes, undefined, 'x', options);
      const saved = ['BIREAL_ENGINE_ISA', 'BIREAL_NATIVE'].map((key) => [key, process.env[key]]);
      try {
        delete process.env['BIREAL_ENGINE_ISA']; // the suite may run with it set
        assert.equal((await load()).backend, `native ${isas[0]}`);
        assert.equal((await load({ native: false })).backend, 'wasm');
        process.env['BIREAL_ENGINE_ISA'] = 'avx2';
        assert.equal((await load()).backend, 'native avx2');
        process.env['BIREAL_ENGINE_ISA'] = 'sse9';
        await assert.rejects(
          load(),
          /unknown instruction set 'sse9'; one of avx512-vpopcntdq, avx2/,
        );
        delete process.env['BIREAL_ENGINE_ISA'];
        if (!isas.includes('avx512-vpopcntdq')) {
          await assert.rejects(load({ isa: 'avx512-vpopcntdq' }), /this CPU cannot run/);
        }
        process.env['BIREAL_NATIVE'] = '0';
        assert.equal((await load()).backend, 'wasm');
        await assert.rejects(
          load({ native: true }),
          /native engine kernels: turned off by BIREAL_NATIVE=0/,
        );
      } finally {
        for (const [key, value] of saved) {
          if (value === undefined) delete process.env[key as string];
          else process.env[key as string] = value;
        }
      }
    });

    it('rejects bad arguments to the addon with clear errors', () => {
      const require = createRequire(import.meta.url);
      // From dist/test/ (compiled) to the repository's native/ folder.
      const addon = require('../../native/build/Release/bireal_native.node') as {
        engineBinaryConv(isa: number, memory: unknown, args: unknown): void;
        enginePackSigns(memory: unknown, args: unknown): void;
        enginePool(memory: unknown, args: unknown): void;
        engineConvPlan(geometry: unknown, weights: unknown, bias: unknown): object;
        engineRun(step: unknown, memory: unknown, input: number, out: number): void;
      };
      const memory = new ArrayBuffer(4096);
      // A 3x3 conv, 8 channels in and out, 4x4 pixels, every buffer 1024 bytes into memory...
      const args = [1024, 4, 8, 1, 1024, 8, 3, 1, 1, 1, 1024, 1024, 1024, 1, 1024, 1024, 0];
      const conv = (out: number) => Int32Array.from([...args, out, 4, 4, 0]);
      addon.engineBinaryConv(0, memory, conv(2048));
      // ...but the output past its end.
      assert.throws(
        () => addon.engineBinaryConv(0, memory, conv(4000)),
        /binaryConv out: 128 x 4 bytes at byte 4000, outside the engine's memory of 4096 bytes/,
      );
      assert.throws(() => addon.engineBinaryConv(7, memory, conv(2048)), /instruction set 7/);
      assert.throws(
        () => addon.engineBinaryConv(0, new Float32Array(4), conv(2048)),
        /binaryConv: memory must be an ArrayBuffer/,
      );
      assert.throws(
        () => addon.engineBinaryConv(0, memory, [1, 2, 3]),
        /binaryConv arguments must be an Int32Array of 21/,
      );
      assert.throws(
        () => addon.enginePackSigns(memory, Int32Array.from([0, 4, 4, 6, 1024, 1])),
        /channels a multiple of 4/,
      );
      // A 3x3 stride-2 max pool, 8 channels, 4x4 to 2x2 pixels: windows past the input's end.
      const pool = (padTop: number) =>
        Int32Array.from([1024, 4, 4, 8, 3, 2, padTop, 0, 2048, 2, 2, 0]);
      addon.enginePool(memory, pool(1));
      assert.throws(() => addon.enginePool(memory, pool(3)), /pool: windows outside the input/);
      assert.throws(
        () =>
          addon.engineConvPlan(
            Int32Array.from([4, 4, 3, 3, 1, 8, 4, 4, 1, 1, 1, 1]),
            new Float32Array(5),
            new Float32Array(8),
          ),
        /convPlan weights must be a Float32Array of 216/,
      );
      assert.throws(() => addon.engineRun({}, memory, 0, 0), /run: not a planned step/);
    });
  },
);
