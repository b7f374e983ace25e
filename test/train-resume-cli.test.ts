/**
 * Kill and resume through the command line, as users run it: `bireal train` in a child process
 * on a small slice of real Imagenette photos (through the same decoding and augmentation
 * workers), killed with SIGKILL at a chosen point, then run again with `--resume`, must give the
 * uninterrupted run's metrics and final evaluation exactly: with 1 and 2 replicas, with and
 * without the native kernels, for one- and two-stage recipes, killed once a checkpoint is
 * written, between stages, during an evaluation and in the middle of a checkpoint write (the
 * last two through `BIREAL_KILL_AT`, see src/train/kill-point.ts).
 *
 * Needs the Imagenette cache (`scripts/setup.sh` prepares it); skipped without it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const IMAGENETTE = fileURLToPath(new URL('../../data/cache/imagenette', import.meta.url));

/** ROOT/{train,val}/<class>/ with the first `perClass` photos of the first 3 classes. */
async function realSlice(root: string): Promise<void> {
  // 42 training photos, 5 batches of 8 an epoch: the first checkpoint is at Adam's step 5,
  // where tfjs' pow(0.999, 6) differs from the product training builds (see optimizer.ts).
  for (const [split, perClass] of [
    ['train', 14],
    ['val', 8],
  ] as const) {
    const classes = (await readdir(join(IMAGENETTE, split))).sort().slice(0, 3);
    for (const name of classes) {
      const files = (await readdir(join(IMAGENETTE, split, name))).sort().slice(0, perClass);
      await mkdir(join(root, split, name), { recursive: true });
      for (const f of files)
        await copyFile(join(IMAGENETTE, split, name, f), join(root, split, name, f));
    }
  }
}

/** Runs `bireal train ARGS`; resolves when it exits, or kills it when `killWhen()` holds. */
function train(
  args: string[],
  env: NodeJS.ProcessEnv,
  killWhen?: () => boolean,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'train', ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const poll = killWhen && setInterval(() => killWhen() && child.kill('SIGKILL'), 20);
    child.on('exit', (code, signal) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

/** The run's metrics.jsonl without its timings, and its summary's final evaluations. */
async function outcome(dir: string) {
  const lines = (await readFile(join(dir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => ['stage', 'step', 'epoch', 'eval'].includes(entry['type'] as string))
    .map(({ seconds: _s, imagesPerSecond: _i, ...entry }) => entry);
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as {
    stages: { eval: unknown }[];
  };
  return { lines, evaluations: summary.stages.map((s) => s.eval) };
}

describe(
  'bireal train killed and resumed equals the uninterrupted run',
  { skip: existsSync(IMAGENETTE) ? false : `no Imagenette cache at ${IMAGENETTE}` },
  () => {
    const binary = (epochs: number, init?: 'previous') => ({
      name: 'binary',
      ...(init ? { init } : {}),
      model: { name: 'bireal18', options: { width: 0.125 } },
      optimizer: { type: 'adam', lr: 0.004, weightDecay: 0 },
      schedule: { type: 'linear' },
      epochs,
      batchSize: 8,
      labelSmoothing: 0.1,
    });
    // The paper's two stages: a real net with clip activations, then Bi-Real-18 from it.
    const clip = {
      ...binary(1),
      name: 'clip',
      model: { name: 'resnet18', options: { width: 0.125, activation: 'clip' } },
    };
    const recipes = { binary: [binary(4)], 'clip then binary': [clip, binary(2, 'previous')] };
    let root = '';
    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'bireal-resume-'));
      await realSlice(join(root, 'data'));
      for (const [name, stages] of Object.entries(recipes)) {
        await writeFile(
          join(root, `${name}.json`),
          JSON.stringify({
            name: 'resume-slice',
            seed: 1,
            dataset: {
              train: `folder:${join(root, 'data')}:train`,
              eval: `folder:${join(root, 'data')}:val`,
              imageSize: 32,
              workers: 1,
              crop: 'resized',
              scale: [0.35, 1],
              lighting: 0.1,
            },
            evalEveryEpoch: true,
            stages,
          }),
        );
      }
    });
    /** The uninterrupted runs' outcomes, one per recipe, replica count and kernel choice. */
    const straight = new Map<string, ReturnType<typeof outcome>>();
    // `after`: killed from outside once that checkpoint exists; `at`: a BIREAL_KILL_AT point.
    const cases: {
      recipe: keyof typeof recipes;
      replicas: number;
      native: boolean;
      kill: { after: string } | { at: string };
    }[] = [
      { recipe: 'binary', replicas: 1, native: true, kill: { after: '1-binary.ckpt' } },
      { recipe: 'binary', replicas: 2, native: true, kill: { after: '1-binary.ckpt' } },
      { recipe: 'binary', replicas: 2, native: false, kill: { after: '1-binary.ckpt' } },
      { recipe: 'clip then binary', replicas: 1, native: true, kill: { after: '1-clip.ckpt' } },
      { recipe: 'binary', replicas: 1, native: true, kill: { at: 'eval#2' } },
      { recipe: 'binary', replicas: 2, native: false, kill: { at: 'eval#2' } },
      { recipe: 'binary', replicas: 1, native: false, kill: { at: 'write:1-binary.ckpt#2' } },
      { recipe: 'binary', replicas: 2, native: true, kill: { at: 'write:1-binary.ckpt#2' } },
      // Killed while writing the first checkpoint: nothing to resume from, it starts over.
      {
        recipe: 'clip then binary',
        replicas: 2,
        native: true,
        kill: { at: 'write:1-clip.ckpt#1' },
      },
    ];
    for (const { recipe, replicas, native, kill } of cases) {
      const setting = `${recipe}, ${replicas} replica${replicas > 1 ? 's' : ''}, native kernels ${native ? 'on' : 'off'}`;
      const when =
        'after' in kill ? `after ${kill.after} is written` : `at ${kill.at} (BIREAL_KILL_AT)`;
      it(`${setting}, killed ${when}`, async () => {
        const env = { ...process.env, BIREAL_NATIVE: native ? '1' : '0' };
        const args = (out: string) => [
          ...['--config', join(root, `${recipe}.json`)],
          ...['--out', out, '--replicas', String(replicas)],
        ];
        if (!straight.has(setting)) {
          const out = join(root, `straight ${setting}`);
          straight.set(
            setting,
            train(args(out), env).then((run) => {
              assert.equal(run.code, 0, run.stderr);
              return outcome(out);
            }),
          );
        }
        const killed = await mkdtemp(join(root, 'killed-'));
        const checkpoints = join(killed, 'checkpoints');
        const run =
          'after' in kill
            ? await train(args(killed), env, () => existsSync(join(checkpoints, kill.after)))
            : await train(args(killed), { ...env, BIREAL_KILL_AT: kill.at });
        assert.equal(run.signal, 'SIGKILL', `the run was not killed: ${run.stderr}`);
        assert.ok(!existsSync(join(killed, 'summary.json')));
        const temps = () => readdirSync(checkpoints).filter((f) => f.includes('.tmp-'));
        if ('at' in kill && kill.at.startsWith('write:'))
          assert.equal(temps().length, 1, 'killed before the checkpoint write began');
        const resumed = await train([...args(killed), '--resume'], env);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.deepEqual(temps(), [], 'the half-written temp file is left behind');
        assert.deepEqual(await outcome(killed), await straight.get(setting));
      });
    }
  },
);
