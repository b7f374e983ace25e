/**
 * Augmentation and normalisation, split in two steps so that either sharp (files) or plain JS
 * (in-memory datasets) can do the resampling:
 *   1. `planSample` fixes the geometry from the image size and the sample's PRNG: a source crop
 *      resized to `resize`, then an imageSize window of that (centre crop, or a shifted window in
 *      the zero-padded image), an optional horizontal flip and the lighting noise;
 *   2. the resampler turns the crop into the resized uint8 image (`resample` here, or sharp);
 *   3. `writeSample` takes the window, flips, adds lighting and normalises into the batch.
 */
import { gaussian, randomInt, type Random } from './random.js';

/** A rectangle in pixels. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The augmentation settings of one batch (resolved {@link BatchOptions}). */
export interface AugmentParams {
  imageSize: number;
  augment: boolean;
  crop: 'resized' | 'padded';
  scale: readonly [number, number];
  lighting: number;
  resizeRatio: number;
  /** Output channels. */
  channels: 1 | 3;
  mean: readonly number[];
  std: readonly number[];
}

/** The geometry and colour noise of one sample. */
export interface Plan {
  /** Region of the source image to resample. */
  crop: Rect;
  /** Size of the resampled image: [width, height]. */
  resize: [number, number];
  /** Offset of the imageSize x imageSize output window in the resampled image (may be negative: zero padding). */
  left: number;
  top: number;
  flip: boolean;
  /** Lighting offsets added to R, G, B (pixel values in [0, 1]), or null. */
  light: [number, number, number] | null;
}

/** ImageNet's per-channel mean (RGB, pixel values in [0, 1]). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
/** ImageNet's per-channel std (RGB, pixel values in [0, 1]). */
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Padding of the CIFAR-style `'padded'` crop. */
const PAD = 4;
/** AlexNet's PCA lighting: eigenvalues and eigenvectors (columns) of ImageNet's RGB covariance. */
const EIGVAL = [0.2175, 0.0188, 0.0045] as const;
const EIGVEC = [
  [-0.5675, 0.7192, 0.4009],
  [-0.5808, -0.0045, -0.814],
  [-0.5836, -0.6948, 0.4203],
] as const;

/** torchvision's RandomResizedCrop window: area fraction in `scale`, aspect ratio in [3/4, 4/3]. */
export function randomResizedCrop(
  random: Random,
  width: number,
  height: number,
  scale: readonly [number, number],
): Rect {
  const area = width * height;
  const [logLo, logHi] = [Math.log(3 / 4), Math.log(4 / 3)];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * random());
    const aspect = Math.exp(logLo + (logHi - logLo) * random());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const top = randomInt(random, height - h + 1);
      return { left: randomInt(random, width - w + 1), top, width: w, height: h };
    }
  }
  // Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
  let [w, h] = [width, height];
  if (width / height < 3 / 4) h = Math.round((width * 4) / 3);
  else if (width / height > 4 / 3) w = Math.round((height * 4) / 3);
  return {
    left: Math.floor((width - w) / 2),
    top: Math.floor((height - h) / 2),
    width: w,
    height: h,
  };
}

/** Fixes the geometry and noise of one sample of a `width` x `height` image. */
export function planSample(
  width: number,
  height: number,
  params: AugmentParams,
  random: Random,
): Plan {
  const size = params.imageSize;
  const whole = { left: 0, top: 0, width, height };
  if (!params.augment) {
    // Resize the shorter side to size * resizeRatio (torchvision's Resize), then centre-crop.
    const short = Math.round(size * params.resizeRatio);
    const resize: [number, number] =
      width <= height
        ? [short, Math.floor((short * height) / width)]
        : [Math.floor((short * width) / height), short];
    const left = Math.round((resize[0] - size) / 2);
    const top = Math.round((resize[1] - size) / 2);
    return { crop: whole, resize, left, top, flip: false, light: null };
  }
  let plan: Plan;
  if (params.crop === 'padded') {
    const top = randomInt(random, 2 * PAD + 1) - PAD;
    const left = randomInt(random, 2 * PAD + 1) - PAD;
    plan = { crop: whole, resize: [size, size], left, top, flip: false, light: null };
  } else {
    const crop = randomResizedCrop(random, width, height, params.scale);
    plan = { crop, resize: [size, size], left: 0, top: 0, flip: false, light: null };
  }
  plan.flip = random() < 0.5;
  if (params.channels === 3 && params.lighting > 0) {
    const alpha = EIGVAL.map((value) => gaussian(random) * params.lighting * value);
    plan.light = EIGVEC.map(
      (row) => row[0] * alpha[0]! + row[1] * alpha[1]! + row[2] * alpha[2]!,
    ) as [number, number, number];
  }
  return plan;
}

/** Triangle-filter (bilinear, antialiased when shrinking) weights along one axis, as PIL computes them. */
function axisWeights(inSize: number, start: number, extent: number, outSize: number) {
  const scale = extent / outSize;
  const support = Math.max(scale, 1);
  const taps = Math.ceil(2 * support) + 1;
  const first = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = start + (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(inSize, Math.floor(center + support + 0.5), lo + taps);
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - center + 0.5) / support));
      weights[o * taps + i - lo] = w;
      total += w;
    }
    for (let k = 0; k < taps; k++) weights[o * taps + k]! /= total || 1;
    first[o] = lo;
  }
  return { first, weights, taps };
}

/** Resamples `crop` of an HWC uint8 image to `outWidth` x `outHeight` (separable triangle filter). */
export function resample(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  crop: Rect,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const whole = crop.left === 0 && crop.top === 0 && crop.width === width && crop.height === height;
  if (whole && outWidth === width && outHeight === height) return src;
  const xs = axisWeights(width, crop.left, crop.width, outWidth);
  const ys = axisWeights(height, crop.top, crop.height, outHeight);
  const rows = new Float32Array(height * outWidth * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0, i = xs.first[x]!; k < xs.taps && i < width; k++, i++) {
          sum += xs.weights[x * xs.taps + k]! * src[(y * width + i) * channels + c]!;
        }
        rows[(y * outWidth + x) * channels + c] = sum;
      }
    }
  }
  const out = new Uint8Array(outWidth * outHeight * channels);
  const rowLength = outWidth * channels;
  for (let y = 0; y < outHeight; y++) {
    for (let j = 0; j < rowLength; j++) {
      let sum = 0;
      for (let k = 0, i = ys.first[y]!; k < ys.taps && i < height; k++, i++) {
        sum += ys.weights[y * ys.taps + k]! * rows[i * rowLength + j]!;
      }
      out[y * rowLength + j] = Math.min(255, Math.max(0, Math.round(sum)));
    }
  }
  return out;
}

/**
 * Writes one sample into `out` at `offset` (imageSize^2 * params.channels floats): the plan's
 * window of the resampled image (`plan.resize` sized, `inChannels` channels), flipped, with
 * lighting noise, normalised by mean/std. Grey input is repeated to RGB; RGB to grey uses luma.
 */
export function writeSample(
  image: Uint8Array,
  inChannels: number,
  plan: Plan,
  params: AugmentParams,
  out: Float32Array,
  offset: number,
): void {
  const size = params.imageSize;
  const outChannels = params.channels;
  const [width, height] = plan.resize;
  const scale = params.std.map((s) => 1 / (255 * s));
  const shift = params.std.map((s, c) => ((plan.light?.[c] ?? 0) - params.mean[c]!) / s);
  let o = offset;
  for (let y = 0; y < size; y++) {
    const sy = plan.top + y;
    for (let x = 0; x < size; x++) {
      const sx = plan.left + (plan.flip ? size - 1 - x : x);
      const inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
      const p = (sy * width + sx) * inChannels;
      for (let c = 0; c < outChannels; c++) {
        const value = !inside
          ? 0
          : inChannels === outChannels
            ? image[p + c]!
            : inChannels === 1
              ? image[p]!
              : 0.299 * image[p]! + 0.587 * image[p + 1]! + 0.114 * image[p + 2]!;
        out[o++] = value * scale[c]! + shift[c]!;
      }
    }
  }
}
