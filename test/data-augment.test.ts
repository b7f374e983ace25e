import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  planSample,
  randomResizedCrop,
  resample,
  writeSample,
  type AugmentParams,
  type Plan,
} from '../src/data/augment.js';
import { keyedRandom, permutation, sampleRandom } from '../src/data/random.js';

const PARAMS: AugmentParams = {
  imageSize: 4,
  augment: false,
  crop: 'resized',
  scale: [0.08, 1],
  lighting: 0.1,
  resizeRatio: 1,
  channels: 3,
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
};

describe('seeded randomness', () => {
  it('keyedRandom is fixed by its keys and uniform in [0, 1)', () => {
    const a = keyedRandom(1, 2, 3);
    const b = keyedRandom(1, 2, 3);
    const draws = Array.from({ length: 10000 }, () => a());
    assert.deepEqual(
      draws.slice(0, 5),
      Array.from({ length: 5 }, () => b()),
    );
    assert.notEqual(keyedRandom(1, 2, 4)(), draws[0]);
    assert.ok(draws.every((x) => x >= 0 && x < 1));
    const mean = draws.reduce((s, x) => s + x) / draws.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  });

  it('permutation is a shuffle fixed by (seed, epoch)', () => {
    const order = permutation(1000, 7, 0);
    assert.deepEqual(
      [...order].sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.deepEqual(permutation(1000, 7, 0), order);
    assert.notDeepEqual(permutation(1000, 7, 1), order);
    assert.notDeepEqual(permutation(1000, 8, 0), order);
  });
});

describe('geometry', () => {
  it('RandomResizedCrop stays inside the image with area 8-100% and aspect 3/4-4/3', () => {
    const random = keyedRandom(3);
    for (let i = 0; i < 2000; i++) {
      const [width, height] = [50 + (i % 400), 60 + ((i * 7) % 300)];
      const crop = randomResizedCrop(random, width, height, [0.08, 1]);
      assert.ok(crop.left >= 0 && crop.top >= 0, JSON.stringify(crop));
      assert.ok(crop.left + crop.width <= width && crop.top + crop.height <= height);
      const area = (crop.width * crop.height) / (width * height);
      assert.ok(area > 0.07 && area <= 1, `area ${area}`);
      const aspect = crop.width / crop.height;
      assert.ok(aspect > 0.7 && aspect < 1.4, `aspect ${aspect}`);
    }
  });

  it('evaluation resizes the shorter side to size x 256/224 and centre-crops', () => {
    const params = { ...PARAMS, imageSize: 224, resizeRatio: 256 / 224 };
    const plan = planSample(500, 375, params, keyedRandom(0));
    assert.deepEqual(plan.resize, [341, 256]);
    assert.deepEqual([plan.left, plan.top, plan.flip, plan.light], [59, 16, false, null]);
    assert.deepEqual(planSample(300, 600, params, keyedRandom(0)).resize, [256, 512]);
  });

  it('training draws a crop, a flip and lighting from the sample PRNG only', () => {
    const params = { ...PARAMS, imageSize: 64, augment: true };
    const plans = Array.from({ length: 200 }, (_, i) =>
      planSample(300, 200, params, sampleRandom(1, 0, i)),
    );
    assert.deepEqual(planSample(300, 200, params, sampleRandom(1, 0, 5)), plans[5]);
    const flips = plans.filter((plan) => plan.flip).length;
    assert.ok(flips > 70 && flips < 130, `${flips} flips`);
    const light = plans.map((plan) => plan.light?.[0] ?? NaN);
    const std = Math.sqrt(light.reduce((s, x) => s + x * x, 0) / light.length);
    assert.ok(std > 0.005 && std < 0.03, `lighting std ${std}`); // ~0.1 * 0.2175 * 0.57
    const off = planSample(300, 200, { ...params, lighting: 0 }, sampleRandom(1, 0, 5));
    assert.equal(off.light, null);
  });

  it("'padded' crops shift a window by up to 4 pixels over the zero-padded image", () => {
    const params = { ...PARAMS, imageSize: 32, augment: true, crop: 'padded' as const };
    const plans = Array.from({ length: 300 }, (_, i) =>
      planSample(32, 32, params, sampleRandom(0, 0, i)),
    );
    const lefts = new Set(plans.map((plan) => plan.left));
    assert.deepEqual(
      [...lefts].sort((a, b) => a - b),
      [-4, -3, -2, -1, 0, 1, 2, 3, 4],
    );
    assert.ok(plans.every((plan) => plan.resize[0] === 32 && plan.crop.width === 32));
  });
});

describe('resample', () => {
  const whole = (w: number, h: number) => ({ left: 0, top: 0, width: w, height: h });

  it('returns the image itself when nothing changes', () => {
    const image = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i);
    assert.equal(resample(image, 4, 3, 3, whole(4, 3), 4, 3), image);
  });

  it('keeps a flat image flat, up or down, and interpolates a ramp', () => {
    const flat = new Uint8Array(20 * 10).fill(77);
    assert.ok(resample(flat, 20, 10, 1, whole(20, 10), 7, 3).every((v) => v === 77));
    assert.ok(resample(flat, 20, 10, 1, whole(20, 10), 50, 31).every((v) => v === 77));
    const ramp = Uint8Array.from([0, 100, 200, 0, 100, 200]); // 3x2, grey
    const up = resample(ramp, 3, 2, 1, whole(3, 2), 6, 1);
    assert.deepEqual([...up], [0, 25, 75, 125, 175, 200]);
    const half = resample(ramp, 3, 2, 1, { left: 1, top: 0, width: 2, height: 2 }, 1, 1);
    assert.deepEqual([...half], [129]); // PIL-style: the filter support reaches past the crop
  });
});

describe('writeSample', () => {
  const plan = (over: Partial<Plan> = {}): Plan => ({
    crop: { left: 0, top: 0, width: 4, height: 1 },
    resize: [4, 1],
    left: 0,
    top: 0,
    flip: false,
    light: null,
    ...over,
  });
  const params = { ...PARAMS, imageSize: 1 };
  // A 4x1 RGB image: pixel x has the value 64x in every channel; the output is its first pixel window.
  const row = Uint8Array.from({ length: 12 }, (_, i) => Math.floor(i / 3) * 64);

  it('normalises with mean/std, flips, pads with zeros and adds lighting', () => {
    const out = new Float32Array(3);
    writeSample(row, 3, plan({ left: 2 }), params, out, 0);
    assert.ok(Math.abs(out[0]! - (128 / 255 - 0.5) / 0.25) < 1e-6);
    writeSample(row, 3, plan({ left: -1 }), params, out, 0); // outside: zero padding
    assert.ok(Math.abs(out[1]! - -2) < 1e-6);
    writeSample(row, 3, plan({ light: [0.1, 0, -0.1] }), params, out, 0);
    assert.deepEqual(
      [...out].map((v) => Math.round(v * 1e4) / 1e4),
      [-1.6, -2, -2.4],
    );
    const flipped = new Float32Array(4 * 3);
    writeSample(row, 3, plan({ flip: true }), { ...params, imageSize: 4 }, flipped, 0);
    assert.ok(Math.abs(flipped[0]! - (192 / 255 - 0.5) / 0.25) < 1e-6);
  });

  it('repeats grey to RGB and converts RGB to grey by luma', () => {
    const out = new Float32Array(3);
    writeSample(Uint8Array.from([255, 0, 0, 0]), 1, plan(), params, out, 0);
    assert.deepEqual([...out], [2, 2, 2]);
    const grey = new Float32Array(1);
    const rgb = Uint8Array.from([255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    writeSample(rgb, 3, plan(), { ...params, channels: 1, mean: [0], std: [1] }, grey, 0);
    assert.ok(Math.abs(grey[0]! - 0.299) < 1e-6);
  });
});
