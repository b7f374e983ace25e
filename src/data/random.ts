/**
 * Seeded randomness for data order and augmentation: every draw comes from a small PRNG keyed by
 * integers such as (seed, epoch, sample index), so results never depend on scheduling.
 */

/** A PRNG returning floats in [0, 1). */
export type Random = () => number;

/** murmur3's 32-bit finaliser: a bijective integer mix. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** mulberry32 seeded with the hash of `keys` (integers; e.g. stream tag, seed, epoch, index). */
export function keyedRandom(...keys: number[]): Random {
  let state = 0x9e3779b9;
  for (const key of keys) state = mix32(state ^ mix32(Math.trunc(key) | 0));
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller). */
export function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** The epoch's sample order: a Fisher-Yates shuffle of 0..n-1 fixed by (seed, epoch). */
export function permutation(n: number, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const random = keyedRandom(1, seed, epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/** The augmentation PRNG of one sample, fixed by (seed, epoch, dataset index). */
export function sampleRandom(seed: number, epoch: number, index: number): Random {
  return keyedRandom(2, seed, epoch, index);
}
