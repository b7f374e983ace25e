/**
 * Image files → resized uint8 pixels, with sharp (libvips): JPEG (baseline, progressive, grey,
 * CMYK) and PNG (any bit depth, palette, alpha) of any size, converted to sRGB or grey.
 * EXIF orientation is ignored, as in PIL/torchvision.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { planSample, writeSample, type AugmentParams, type Plan } from './augment.js';
import { DataError, messageOf } from './errors.js';

// Like PIL: fail on truncated data, tolerate libjpeg's warnings (e.g. extraneous bytes).
let sharpConfigured = false;
/**
 * Each image is decoded once, so libvips' cache would only hold memory. Done on first use, not
 * at import: browsers bundle this module with sharp stubbed out.
 */
function disableSharpCache(): void {
  if (sharpConfigured) return;
  sharp.cache(false);
  sharpConfigured = true;
}
const INPUT = { limitInputPixels: false, failOn: 'truncated' } as const;
/** The signatures that open every JPEG and PNG file. */
const SIGNATURES = { JPEG: [0xff, 0xd8, 0xff], PNG: [0x89, 0x50, 0x4e, 0x47] };
/** What each format's libvips loader prefixes its messages with. */
const LOADERS = { JPEG: /^VipsJpeg: /i, PNG: /^vipspng: /i };

function formatOf(buffer: Buffer): keyof typeof SIGNATURES | undefined {
  const formats = Object.keys(SIGNATURES) as (keyof typeof SIGNATURES)[];
  return formats.find((format) => SIGNATURES[format].every((byte, i) => buffer[i] === byte));
}

/**
 * libvips' reasons for failing to decode a `format` file. libvips keeps one error buffer for the
 * whole process, so the message of a failed decode can also hold, or lack, the reasons of other
 * decodes running at the same time: only the lines of this format's loader are kept, once each.
 */
function libvipsReasons(error: unknown, format: keyof typeof SIGNATURES): string {
  const lines = messageOf(error)
    .split('\n')
    .map((line) => line.replace(/^Input buffer has corrupt header:\s*/, ''))
    .filter((line) => LOADERS[format].test(line))
    .map((line) => line.replace(LOADERS[format], ''));
  return [...new Set(lines)].join('; ');
}

/**
 * Decodes `buffer` (the image `name`), lets `plan` fix the geometry from its size, and returns the
 * planned crop resized to `plan.resize` (HWC uint8, `channels` channels), or throws a
 * {@link DataError} naming the image and what is wrong with it.
 */
export async function decodeImage(
  buffer: Buffer,
  name: string,
  plan: (width: number, height: number) => Plan,
  channels: 1 | 3,
): Promise<{ image: Uint8Array; plan: Plan }> {
  disableSharpCache();
  if (buffer.length === 0)
    throw new DataError(`${name}: empty file (expected a JPEG or PNG image)`);
  const format = formatOf(buffer);
  if (format === undefined) {
    const start = [...buffer.subarray(0, 8)].map((byte) => byte.toString(16).padStart(2, '0'));
    throw new DataError(
      `${name}: not a decodable JPEG or PNG image (neither signature: it starts with bytes ` +
        `${start.join(' ')})`,
    );
  }
  const undecodable = (error: unknown): never => {
    const reasons = libvipsReasons(error, format);
    throw new DataError(
      `${name}: not a decodable JPEG or PNG image (corrupt or truncated ${format} data` +
        `${reasons === '' ? '' : `: ${reasons}`})`,
    );
  };
  const { width, height } = await sharp(buffer, INPUT).metadata().catch(undecodable);
  const chosen = plan(width, height);
  const { crop, resize } = chosen;
  let pipeline = sharp(buffer, INPUT);
  if (crop.left !== 0 || crop.top !== 0 || crop.width !== width || crop.height !== height) {
    pipeline = pipeline.extract(crop);
  }
  const { data, info } = await pipeline
    .resize(resize[0], resize[1], { fit: 'fill', kernel: 'linear' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(undecodable);
  if (info.channels !== channels) {
    throw new DataError(`${name}: decoded to ${info.channels} channels, expected ${channels}`);
  }
  return { image: new Uint8Array(data.buffer, data.byteOffset, data.length), plan: chosen };
}

/** {@link decodeImage} of the file at `path`. */
export async function loadImageFile(
  path: string,
  plan: (width: number, height: number) => Plan,
  channels: 1 | 3,
): Promise<{ image: Uint8Array; plan: Plan }> {
  let buffer: Buffer;
  try {
    buffer = await readFile(path);
  } catch (error) {
    throw new DataError(`${path}: cannot read (${messageOf(error)})`);
  }
  return decodeImage(buffer, path, plan, channels);
}

/** How a model's input is made from a photo: size, channels, normalisation, resize ratio. */
export interface InputFormat {
  size: number;
  channels: 1 | 3;
  mean: readonly number[];
  std: readonly number[];
  resizeRatio: number;
}

/**
 * The image file at `path` as a model input (HWC float32), transformed as evaluation does:
 * the shorter side resized to size * resizeRatio, the centre crop, then mean/std.
 * @param path - the image file (JPEG, PNG...).
 * @param format - the model's input: size, resize ratio, mean and std.
 */
export async function loadEvalImage(path: string, format: InputFormat): Promise<Float32Array> {
  const { size, channels, resizeRatio, mean, std } = format;
  const params: AugmentParams = {
    imageSize: size,
    augment: false,
    crop: 'resized',
    scale: [1, 1],
    lighting: 0,
    resizeRatio,
    channels,
    mean,
    std,
  };
  const plan = (width: number, height: number) => planSample(width, height, params, () => 0);
  const { image, plan: chosen } = await loadImageFile(path, plan, channels);
  const input = new Float32Array(size * size * channels);
  writeSample(image, channels, chosen, params, input, 0);
  return input;
}
