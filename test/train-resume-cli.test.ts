/**
 * Kill and resume through the command line, as users run it: `bireal train` in a child process
 * on a small slice of real Imagenette photos (through the same decoding and augmentation
 * workers), killed with SIGKILL once a chosen checkpoint is written, then run again with
 * `--resume`, must give the uninterrupted run's metrics and final evaluation exactly: with 1 and
 * 2 replicas, with and without the native kernels, and for a two-stage recipe killed between
 * its stages.
 *
 * Needs the Imagenette cache (`scripts/setup.sh` prepares it); skipped without it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
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
    // The paper's two stages: a real net with clip activations, then Bi-Real-18 from it; killed
    // between the stages.
    const clip = {
      ...binary(1),
      name: 'clip',
      model: { name: 'resnet18', options: { width: 0.125, activation: 'clip' } },
    };
    for (const { replicas, native, stages, killAfter } of [
      { replicas: 1, native: '1', stages: [binary(4)], killAfter: '1-binary.ckpt' },
      { replicas: 2, native: '1', stages: [binary(4)], killAfter: '1-binary.ckpt' },
      { replicas: 2, native: '0', stages: [binary(4)], killAfter: '1-binary.ckpt' },
      {
        replicas: 1,
        native: '1',
        stages: [clip, binary(2, 'previous')],
        killAfter: '1-clip.ckpt',
      },
    ]) {
      const what = `${stages.map((st) => st.name).join(' then ')}, ${replicas} replica${replicas > 1 ? 's' : ''}, native kernels ${native === '1' ? 'on' : 'off'}`;
      it(what, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'bireal-resume-'));
        await realSlice(join(dir, 'data'));
        const config = join(dir, 'recipe.json');
        await writeFile(
          config,
          JSON.stringify({
            name: 'resume-slice',
            seed: 1,
            dataset: {
              train: `folder:${join(dir, 'data')}:train`,
              eval: `folder:${join(dir, 'data')}:val`,
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
        const env = { ...process.env, BIREAL_NATIVE: native };
        const args = (out: string) => [
          '--config',
          config,
          '--out',
          out,
          '--replicas',
          String(replicas),
        ];
        const [straight, killed] = [join(dir, 'straight'), join(dir, 'killed')];
        const whole = await train(args(straight), env);
        assert.equal(whole.code, 0, whole.stderr);
        const first = join(killed, 'checkpoints', killAfter);
        const kill = await train(args(killed), env, () => existsSync(first));
        assert.equal(kill.signal, 'SIGKILL', 'the run ended before it could be killed');
        assert.ok(!existsSync(join(killed, 'summary.json')));
        const resumed = await train([...args(killed), '--resume'], env);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.deepEqual(await outcome(killed), await outcome(straight));
      });
    }
  },
);
