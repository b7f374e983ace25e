/**
 * Benchmarks (never tests): `npm run bench -- NAME [options]`.
 *   train    images/s of a bireal18 training step at 64/128/224 px (see bench/train.ts)
 *   kernels  GFLOP/s of the conv gradient kernels and MaxPoolGrad (see bench/kernels.ts)
 *   decode   JPEG decode (sharp vs jpeg-js) and loader images/s (see bench/decode.ts)
 *   profile  per-kernel time of one bireal18 training step (see bench/profile.ts)
 *   torch    bireal vs PyTorch CPU on the same bireal18 training step (see bench/torch.ts)
 *   site     the docs site in Chromium: time to interactive, JS bytes, MNIST demo, the deploy
 *            page's weight and time to its first answer per model (bench/site.ts)
 *   engine   the packed 1-bit engine vs tfjs float and ONNX Runtime, Node and Chromium (bench/engine.ts)
 * Each first names the host (bench/host.ts): its CPU, instruction sets and kernel caps.
 */
import { describeHost } from './host.js';

const BENCHES: Record<string, () => Promise<{ run: (args: string[]) => Promise<void> }>> = {
  train: () => import('./train.js'),
  kernels: () => import('./kernels.js'),
  profile: () => import('./profile.js'),
  torch: () => import('./torch.js'),
  decode: () => import('./decode.js'),
  site: () => import('./site.js'),
  engine: () => import('./engine.js'),
};

const [name = 'train', ...args] = process.argv.slice(2);
const load = BENCHES[name];
if (load === undefined) {
  console.error(`unknown benchmark '${name}'; valid: ${Object.keys(BENCHES).join(', ')}`);
  process.exitCode = 2;
} else {
  console.log(describeHost());
  await (await load()).run(args);
}
