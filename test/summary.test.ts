import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.js';
import { costSummary } from '../src/analysis/summary.js';
import { createModel } from '../src/models/index.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

// The paper's cost table (224x224, 1000 classes): memory in Mbit and FLOPs.
const PAPER = {
  bireal18: { mbit: 33.6, flops: 1.63e8 },
  bireal34: { mbit: 43.7, flops: 1.93e8 },
  resnet18: { mbit: 374.1, flops: 1.81e9 },
  resnet34: { mbit: 697.3, flops: 3.66e9 },
} as const;

function within(actual: number, expected: number, relative: number, what: string) {
  const error = Math.abs(actual - expected) / expected;
  assert.ok(
    error <= relative,
    `${what}: ${actual} vs ${expected} (${(100 * error).toFixed(2)}% off)`,
  );
}

before(async () => {
  await initBackend({ log: false });
});

describe('cost summary', () => {
  for (const [name, paper] of Object.entries(PAPER)) {
    it(`${name} reproduces the paper's memory and FLOPs within 2%`, () => {
      const model = createModel(name);
      const cost = costSummary(model);
      within(cost.memoryBits / 1e6, paper.mbit, 0.02, `${name} memory`);
      within(cost.flops, paper.flops, 0.02, `${name} FLOPs`);
      assert.equal(cost.flops, cost.realFlops + cost.binaryMacs / 64);
      model.dispose();
    });
  }

  it('counts Bi-Real-18 exactly: binary weights and MACs as recounted in PAPER.md', () => {
    const model = createModel('bireal18');
    const cost = costSummary(model);
    assert.equal(cost.binaryParams, 10_985_472);
    within(cost.binaryMacs, 1.676e9, 0.001, 'binary MACs');
    within(cost.realFlops, 1.38e8, 0.01, 'real FLOPs');
    assert.equal(cost.params, 11_689_512); // same parameter count as ResNet-18
    model.dispose();
  });
});

describe('bireal summary CLI', () => {
  it('prints JSON with the cost fields', async () => {
    const { stdout } = await run(process.execPath, [
      cli,
      'summary',
      '--model',
      'bireal18',
      '--json',
    ]);
    const json = JSON.parse(stdout);
    for (const key of ['params', 'memoryBits', 'flops', 'binaryMacs', 'realFlops']) {
      assert.equal(typeof json[key], 'number', key);
    }
    within(json.flops, PAPER.bireal18.flops, 0.02, 'CLI FLOPs');
  });

  it('prints a table', async () => {
    const { stdout } = await run(process.execPath, [
      cli,
      'summary',
      '--model',
      'resnet34',
      '--input',
      '64',
      '--classes',
      '10',
    ]);
    assert.match(stdout, /resnet34: ResNet-34 \(real-valued\), 64x64 input, 10 classes/);
    assert.match(stdout, /memory: \d+\.\d+ Mbit/);
  });

  for (const args of [
    ['summary', '--model', 'nope'],
    ['summary'],
    ['summary', '--model', 'bireal18', '--input', '0'],
    ['summary', '--bogus'],
    ['frobnicate'],
  ]) {
    it(`exits 2 with a clear message for: ${args.join(' ')}`, async () => {
      await assert.rejects(
        run(process.execPath, [cli, ...args]),
        (error: { code: number; stderr: string }) => {
          assert.equal(error.code, 2);
          assert.match(error.stderr, /^bireal: /);
          return true;
        },
      );
    });
  }
});

describe('package entry', () => {
  it("is importable as 'bireal' through the package exports", async () => {
    const bireal = await import('bireal' as string);
    for (const name of [
      'binarizeActivation',
      'binarizeWeight',
      'createModel',
      'costSummary',
      'initBackend',
      'initFromReal',
    ]) {
      assert.equal(typeof bireal[name], 'function', name);
    }
  });
});
