/** Tests of the argument handling of `bireal train` and `bireal eval` (exit code 2). */
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as evalCommand } from '../src/cli/eval.js';
import { main } from '../src/cli/main.js';
import { run as trainCommand } from '../src/cli/train.js';
import { UsageError } from '../src/cli/usage.js';

/** Whether `error` is a command-line mistake (main exits with 2 for both kinds). */
function usageMistake(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS');
}

describe('bireal train / eval arguments', () => {
  it('rejects bad train arguments as usage errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bireal-cli-'));
    const config = join(dir, 'c.json');
    await writeFile(config, '{}');
    for (const args of [
      [],
      ['--bogus'],
      ['--config'],
      ['--config', join(dir, 'missing.json')],
      ['--config', config, '--epochs', '0'],
      ['--config', config, '--seed', '1.5'],
      ['--config', config, '--limit-batches', 'x'],
      ['--resume'],
      ['positional'],
    ]) {
      await assert.rejects(trainCommand(args), usageMistake, args.join(' '));
    }
    // A readable but invalid config is not a usage mistake: it names the file and the field.
    await assert.rejects(trainCommand(['--config', config]), /c\.json: name must be a non-empty/);
  });

  it('rejects bad eval arguments as usage errors', async () => {
    for (const args of [
      [],
      ['--run', 'a', '--checkpoint', 'b'],
      ['--checkpoint', 'missing.ckpt'],
      ['--run', 'no-such-run'],
      ['--checkpoint', 'x', '--limit', '0'],
      ['--checkpoint', 'x', '--batch', '-1'],
      ['--bogus'],
    ]) {
      await assert.rejects(evalCommand(args), usageMistake, args.join(' '));
    }
  });

  it('exits with code 2 through the bireal command', async () => {
    const error = mock.method(console, 'error', () => undefined);
    try {
      assert.equal(await main(['train', '--epochs', '0']), 2);
      assert.equal(await main(['eval', '--limit', 'x']), 2);
    } finally {
      error.mock.restore();
    }
  });

  it("prints each command's usage for --help and -h, and exits 0", async () => {
    const log = mock.method(console, 'log', () => undefined);
    try {
      for (const [args, usage] of [
        [['train', '--help'], 'usage: bireal train --config FILE'],
        [['eval', '-h'], 'usage: bireal eval'],
        [['data', 'fetch', '--help'], 'usage: bireal data fetch NAME'],
        [['summary', '--help'], 'usage: bireal <command>'],
      ] as const) {
        log.mock.resetCalls();
        assert.equal(await main([...args]), 0, args.join(' '));
        assert.ok(String(log.mock.calls[0]?.arguments[0]).startsWith(usage), args.join(' '));
      }
    } finally {
      log.mock.restore();
    }
  });
});
