// The bit-packed inference kernels, in AssemblyScript (compiled to WebAssembly with SIMD by
// `npm run build`). One image at a time, NHWC layout, every argument a byte offset into this
// module's memory; the TypeScript runtime (../index.ts) owns the memory layout.
//
// 1-bit tensors hold `words` 64-bit words per pixel: bit i of word j is 1 where channel 64j + i
// is negative (sign(x) = -1; sign(0) = +1), unused bits are 0. They carry a border of `border`
// zero words on every side, so that a convolution reads its padding without a bounds test; the
// convolution then removes what the padding added (see binaryConv).

/** Where the runtime may start placing buffers: the end of this module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

/** Copies a float tensor h x w x c into a zero-filled (h + top + bottom) x (w + left + right) x c buffer. */
export function padF32(
  input: usize,
  h: i32,
  w: i32,
  c: i32,
  out: usize,
  top: i32,
  left: i32,
  bottom: i32,
  right: i32,
): void {
  const wp = w + left + right;
  memory.fill(out, 0, (<usize>((h + top + bottom) * wp * c)) << 2);
  const row = (<usize>(w * c)) << 2;
  for (let y = 0; y < h; y++) {
    memory.copy(out + ((<usize>(((y + top) * wp + left) * c)) << 2), input + <usize>y * row, row);
  }
}

/**
 * Float convolution over an already padded input (hp x wp x cin), no padding of its own:
 * out[oy][ox][co] = bias[co] + sum over ky, kx, ci of in[oy*s + ky][ox*s + kx][ci] * w[ky][kx][ci][co].
 * Weights are [k][k][cin][cout] with cout a multiple of 8. Blocks of 4 pixels x 8 output
 * channels keep 8 SIMD accumulators in registers.
 */
export function convF32(
  input: usize,
  wp: i32,
  cin: i32,
  weights: usize,
  bias: usize,
  cout: i32,
  k: i32,
  stride: i32,
  out: usize,
  oh: i32,
  ow: i32,
): void {
  const span = k * cin; // one kernel row reads k*cin consecutive floats
  const pixelStep = (<usize>(stride * cin)) << 2;
  const weightRow = (<usize>cout) << 2;
  for (let oy = 0; oy < oh; oy++) {
    let ox = 0;
    for (; ox + 4 <= ow; ox += 4) {
      const o = out + ((<usize>((oy * ow + ox) * cout)) << 2);
      for (let cb = 0; cb < cout; cb += 8) {
        let a0 = v128.load(bias + ((<usize>cb) << 2));
        let b0 = v128.load(bias + ((<usize>cb) << 2), 16);
        let a1 = a0,
          b1 = b0,
          a2 = a0,
          b2 = b0,
          a3 = a0,
          b3 = b0;
        for (let ky = 0; ky < k; ky++) {
          let x = input + ((<usize>(((oy * stride + ky) * wp + ox * stride) * cin)) << 2);
          let wt = weights + ((<usize>(ky * span * cout + cb)) << 2);
          for (let j = 0; j < span; j++) {
            const wa = v128.load(wt);
            const wb = v128.load(wt, 16);
            const x0 = v128.load32_splat(x);
            const x1 = v128.load32_splat(x + pixelStep);
            const x2 = v128.load32_splat(x + 2 * pixelStep);
            const x3 = v128.load32_splat(x + 3 * pixelStep);
            a0 = f32x4.add(a0, f32x4.mul(x0, wa));
            b0 = f32x4.add(b0, f32x4.mul(x0, wb));
            a1 = f32x4.add(a1, f32x4.mul(x1, wa));
            b1 = f32x4.add(b1, f32x4.mul(x1, wb));
            a2 = f32x4.add(a2, f32x4.mul(x2, wa));
            b2 = f32x4.add(b2, f32x4.mul(x2, wb));
            a3 = f32x4.add(a3, f32x4.mul(x3, wa));
            b3 = f32x4.add(b3, f32x4.mul(x3, wb));
            x += 4;
            wt += weightRow;
          }
        }
        const p = o + ((<usize>cb) << 2);
        const next = (<usize>cout) << 2;
        v128.store(p, a0);
        v128.store(p, b0, 16);
        v128.store(p + next, a1);
        v128.store(p + next, b1, 16);
        v128.store(p + 2 * next, a2);
        v128.store(p + 2 * next, b2, 16);
        v128.store(p + 3 * next, a3);
        v128.store(p + 3 * next, b3, 16);
      }
    }
    for (; ox < ow; ox++) {
      const o = out + ((<usize>((oy * ow + ox) * cout)) << 2);
      for (let cb = 0; cb < cout; cb += 8) {
        let a0 = v128.load(bias + ((<usize>cb) << 2));
        let b0 = v128.load(bias + ((<usize>cb) << 2), 16);
        for (let ky = 0; ky < k; ky++) {
          let x = input + ((<usize>(((oy * stride + ky) * wp + ox * stride) * cin)) << 2);
          let wt = weights + ((<usize>(ky * span * cout + cb)) << 2);
          for (let j = 0; j < span; j++) {
            const x0 = v128.load32_splat(x);
            a0 = f32x4.add(a0, f32x4.mul(x0, v128.load(wt)));
            b0 = f32x4.add(b0, f32x4.mul(x0, v128.load(wt, 16)));
            x += 4;
            wt += weightRow;
          }
        }
        v128.store(o + ((<usize>cb) << 2), a0);
        v128.store(o + ((<usize>cb) << 2), b0, 16);
      }
    }
  }
}

/**
 * The polyphase form of a stride-2 convolution's input: out[i][j][(2py + px) * c + ch] =
 * input[2i + py - top][2j + px - left][ch], for i < ph, j < pw. Only the cells inside the h x w
 * input are written, always the same ones: `out` starts zeroed (fresh memory), which is the
 * padding. A stride-2 k x k convolution of the input is a stride-1 ceil(k/2)-square one of this.
 */
export function phaseSplit(
  input: usize,
  h: i32,
  w: i32,
  c: i32,
  top: i32,
  left: i32,
  out: usize,
  ph: i32,
  pw: i32,
): void {
  for (let i = 0; i < ph; i++) {
    for (let py = 0; py < 2; py++) {
      const y = 2 * i + py - top;
      if (y < 0 || y >= h) continue;
      // Pixels 2j - left and 2j + 1 - left of row y become channels 2py * c.. of pixel (i, j).
      const to = out + ((<usize>(i * pw * 4 * c + 2 * py * c)) << 2);
      const from = input + ((<usize>((y * w - left) * c)) << 2);
      for (let j = 0; j < pw; j++) {
        const x = 2 * j - left;
        const first = x + 1 < 0 ? 2 * c : x < 0 ? c : 0; // the pair's floats inside the row
        const last = x + 1 < w ? 2 * c : x < w ? c : 0;
        const pixelTo = to + ((<usize>(j * 4 * c)) << 2);
        const pixelFrom = from + ((<usize>(2 * j * c)) << 2);
        for (let f = first; f < last; f++) {
          store<f32>(pixelTo + ((<usize>f) << 2), load<f32>(pixelFrom + ((<usize>f) << 2)));
        }
      }
    }
  }
}

// Winograd's F(4x4, 4x4) with the points 0, 1, -1, 2, -2, 1/2 and infinity. The input transform
// B^T is scaled to integer entries (its row scales move into the weights' transform, done by the
// runtime); A^T[i] = (1, p, p^2, p^3) at the finite points p, (0, 0, 0, 1) at infinity.

/** `x` times the constant `value`. */
// @ts-ignore: decorator
@inline
function c(value: f32, x: v128): v128 {
  return f32x4.mul(f32x4.splat(value), x);
}

/** a + b + c + d. */
// @ts-ignore: decorator
@inline
function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  return f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
}

/**
 * B^T applied to seven vectors `xStep` bytes apart from `x`, written `yStep` bytes apart from `y`:
 * B^T = [4 -8 -5 10 1 -2 0; 0 -4 4 9 -1 -2 0; 0 -4 12 -7 -3 2 0; 0 2 -3 -4 3 2 0;
 *        0 2 -5 0 5 -2 0; 0 4 0 -5 0 1 0; 0 -4 8 5 -10 -1 2].
 */
// @ts-ignore: decorator
@inline
function inputTransform(x: usize, xStep: usize, y: usize, yStep: usize): void {
  const x0 = v128.load(x);
  const x1 = v128.load(x + xStep);
  const x2 = v128.load(x + 2 * xStep);
  const x3 = v128.load(x + 3 * xStep);
  const x4 = v128.load(x + 4 * xStep);
  const x5 = v128.load(x + 5 * xStep);
  const x6 = v128.load(x + 6 * xStep);
  const twice5 = f32x4.add(x5, x5);
  v128.store(
    y,
    sum4(f32x4.add(c(4, x0), c(-8, x1)), f32x4.add(c(-5, x2), c(10, x3)), x4, c(-2, x5)),
  );
  v128.store(y + yStep, sum4(c(-4, x1), c(4, x2), c(9, x3), f32x4.sub(c(-2, x5), x4)));
  v128.store(
    y + 2 * yStep,
    sum4(c(-4, x1), c(12, x2), f32x4.add(c(-7, x3), c(-3, x4)), twice5),
  );
  v128.store(
    y + 3 * yStep,
    sum4(f32x4.add(x1, x1), c(-3, x2), f32x4.add(c(-4, x3), c(3, x4)), twice5),
  );
  v128.store(y + 4 * yStep, sum4(f32x4.add(x1, x1), c(-5, x2), c(5, x4), f32x4.neg(twice5)));
  v128.store(y + 5 * yStep, f32x4.add(f32x4.sub(c(4, x1), c(5, x3)), x5));
  v128.store(
    y + 6 * yStep,
    sum4(
      f32x4.add(c(-4, x1), c(8, x2)),
      f32x4.add(c(5, x3), c(-10, x4)),
      f32x4.add(x6, x6),
      f32x4.neg(x5),
    ),
  );
}

/**
 * A^T applied to seven vectors `xStep` bytes apart from `x` (plus `start` on the first output),
 * written as four vectors `yStep` bytes apart from `y`.
 */
// @ts-ignore: decorator
@inline
function outputTransform(x: usize, xStep: usize, start: v128, y: usize, yStep: usize): void {
  const x1 = v128.load(x + xStep);
  const x2 = v128.load(x + 2 * xStep);
  const x3 = v128.load(x + 3 * xStep);
  const x4 = v128.load(x + 4 * xStep);
  const x5 = v128.load(x + 5 * xStep);
  const s1 = f32x4.add(x1, x2);
  const d1 = f32x4.sub(x1, x2);
  const s2 = f32x4.add(x3, x4);
  const d2 = f32x4.sub(x3, x4);
  v128.store(y, f32x4.add(f32x4.add(start, v128.load(x)), f32x4.add(f32x4.add(s1, s2), x5)));
  v128.store(y + yStep, f32x4.add(f32x4.add(start, d1), f32x4.add(c(2, d2), c(0.5, x5))));
  v128.store(y + 2 * yStep, f32x4.add(f32x4.add(start, s1), f32x4.add(c(4, s2), c(0.25, x5))));
  v128.store(
    y + 3 * yStep,
    f32x4.add(
      f32x4.add(f32x4.add(start, d1), c(8, d2)),
      f32x4.add(c(0.125, x5), v128.load(x + 6 * xStep)),
    ),
  );
}

/**
 * A 7x7 stride-2 convolution (the ResNet stem), out = conv + bias, by Winograd's F(4x4, 4x4)
 * on its polyphase form (see phaseSplit; `phases` is pw pixels wide, `chans` = 4 * cin channels,
 * with 4 * ceil(oh/4) + 3 rows and 4 * ceil(ow/4) + 3 columns): 4 x 49 multiplies per 4x4
 * outputs and input channel, where a direct conv does 16 x 49. `u` holds the transformed weights
 * [49][chans][cout] (see the runtime), cout a multiple of 8. Blocks of 4 tiles x 8 output
 * channels keep 8 SIMD accumulators in registers; `v` (4 * 49 * chans f32) and `m`
 * (8 * 49 * 4 f32 + 49 * chans f32) are scratch.
 */
export function conv7x7s2Winograd(
  phases: usize,
  pw: i32,
  chans: i32,
  u: usize,
  bias: usize,
  cout: i32,
  out: usize,
  oh: i32,
  ow: i32,
  v: usize,
  m: usize,
): void {
  const tilesY = (oh + 3) >> 2;
  const tilesX = (ow + 3) >> 2;
  const pixel = (<usize>chans) << 2; // bytes per phase pixel
  const tileV = <usize>49 * pixel; // bytes of one tile's transformed input
  const tileM = <usize>49 * 16; // bytes of one tile's M for 4 output channels
  const t = m + 8 * tileM; // 49 * chans f32: the transforms' first pass
  const uPos = pixel * <usize>cout; // bytes of the weights of one of the 49 positions
  const rowBytes = (<usize>(ow * cout)) << 2;
  const next = (<usize>cout) << 2;
  for (let ty = 0; ty < tilesY; ty++) {
    for (let tx0 = 0; tx0 < tilesX; tx0 += 4) {
      // Input transform of 4 tiles (the last one repeated past the row's end): V = B^T d B.
      for (let tile = 0; tile < 4; tile++) {
        const tx = min(tx0 + tile, tilesX - 1);
        const d = phases + <usize>((4 * ty * pw + 4 * tx) * chans) * 4;
        const vk = v + <usize>tile * tileV;
        for (let g: usize = 0; g < pixel; g += 16) {
          for (let col: usize = 0; col < 7; col++) {
            inputTransform(d + col * pixel + g, <usize>pw * pixel, t + col * pixel + g, 7 * pixel);
          }
          for (let row: usize = 0; row < 7; row++) {
            inputTransform(t + row * 7 * pixel + g, pixel, vk + row * 7 * pixel + g, pixel);
          }
        }
      }
      for (let co = 0; co < cout; co += 8) {
        // M[half][tile][pos] = sum over ch of V[tile][pos][ch] * U[pos][ch][co + 4 * half..+3]
        for (let pos: usize = 0; pos < 49; pos++) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
          let w = u + pos * uPos + ((<usize>co) << 2);
          let x = v + pos * pixel;
          const end = x + pixel;
          for (; x < end; x += 4) {
            const wa = v128.load(w);
            const wb = v128.load(w, 16);
            const x0 = v128.load32_splat(x);
            const x1 = v128.load32_splat(x + tileV);
            const x2 = v128.load32_splat(x + 2 * tileV);
            const x3 = v128.load32_splat(x + 3 * tileV);
            a0 = f32x4.add(a0, f32x4.mul(x0, wa));
            b0 = f32x4.add(b0, f32x4.mul(x0, wb));
            a1 = f32x4.add(a1, f32x4.mul(x1, wa));
            b1 = f32x4.add(b1, f32x4.mul(x1, wb));
            a2 = f32x4.add(a2, f32x4.mul(x2, wa));
            b2 = f32x4.add(b2, f32x4.mul(x2, wb));
            a3 = f32x4.add(a3, f32x4.mul(x3, wa));
            b3 = f32x4.add(b3, f32x4.mul(x3, wb));
            w += <usize>cout << 2;
          }
          const at = m + pos * 16;
          v128.store(at, a0);
          v128.store(at + tileM, a1);
          v128.store(at + 2 * tileM, a2);
          v128.store(at + 3 * tileM, a3);
          v128.store(at + 4 * tileM, b0);
          v128.store(at + 5 * tileM, b1);
          v128.store(at + 6 * tileM, b2);
          v128.store(at + 7 * tileM, b3);
        }
        // Output transform of each tile: Y = A^T M A, plus the bias; T = M A first (in t).
        const zero = f32x4.splat(0);
        for (let k = 0; k < 8; k++) {
          const tile = k & 3;
          const c = co + ((k >> 2) << 2);
          if (tx0 + tile >= tilesX) continue;
          const mk = m + <usize>k * tileM;
          for (let row: usize = 0; row < 7; row++) {
            outputTransform(mk + row * 112, 16, zero, t + row * 64, 16);
          }
          const b = v128.load(bias + ((<usize>c) << 2));
          const oy = 4 * ty;
          const ox = 4 * (tx0 + tile);
          const o = out + ((<usize>((oy * ow + ox) * cout + c)) << 2);
          if (oy + 4 <= oh && ox + 4 <= ow) {
            for (let col: usize = 0; col < 4; col++) {
              outputTransform(t + col * 16, 64, b, o + col * next, rowBytes);
            }
            continue;
          }
          // A tile over the output's edge: Y in scratch, then its pixels inside the output.
          const y = t + 7 * 64; // Y[i][j] at y + (i * 4 + j) * 16
          for (let col: usize = 0; col < 4; col++) {
            outputTransform(t + col * 16, 64, b, y + col * 16, 64);
          }
          for (let i = 0; i < 4 && oy + i < oh; i++) {
            for (let j = 0; j < 4 && ox + j < ow; j++) {
              const value = v128.load(y + <usize>((i * 4 + j) * 16));
              v128.store(o + <usize>i * rowBytes + <usize>j * next, value);
            }
          }
        }
      }
    }
  }
}

/**
 * Max or average pooling, k x k with stride s, of an h x w x c tensor (c a multiple of 4) with
 * TensorFlow's 'same' padding (padTop/padLeft before; padded cells are ignored: the average
 * divides by the number of cells inside the input).
 */
export function pool(
  input: usize,
  h: i32,
  w: i32,
  c: i32,
  k: i32,
  stride: i32,
  padTop: i32,
  padLeft: i32,
  out: usize,
  oh: i32,
  ow: i32,
  average: bool,
): void {
  const pixelBytes = (<usize>c) << 2;
  for (let oy = 0; oy < oh; oy++) {
    const y0 = max(oy * stride - padTop, 0);
    const y1 = min(oy * stride - padTop + k, h);
    for (let ox = 0; ox < ow; ox++) {
      const x0 = max(ox * stride - padLeft, 0);
      const x1 = min(ox * stride - padLeft + k, w);
      const o = out + <usize>(oy * ow + ox) * pixelBytes;
      // Start from the window's first cell, then fold in the others a pixel at a time.
      memory.copy(o, input + <usize>(y0 * w + x0) * pixelBytes, pixelBytes);
      for (let y = y0; y < y1; y++) {
        for (let x = y == y0 ? x0 + 1 : x0; x < x1; x++) {
          const at = input + <usize>(y * w + x) * pixelBytes;
          for (let ch: usize = 0; ch < pixelBytes; ch += 16) {
            const v = v128.load(at + ch);
            const acc = v128.load(o + ch);
            v128.store(o + ch, average ? f32x4.add(acc, v) : f32x4.max(acc, v));
          }
        }
      }
      if (average) {
        const inverse = f32x4.splat(<f32>1 / <f32>((y1 - y0) * (x1 - x0)));
        for (let ch: usize = 0; ch < pixelBytes; ch += 16) {
          v128.store(o + ch, f32x4.mul(v128.load(o + ch), inverse));
        }
      }
    }
  }
}

/**
 * out = activation(input + residual) over n floats (n a multiple of 4): residual 0 adds nothing;
 * activation 0 is none, 1 ReLU, 2 clip(x, -1, 1). `out` may be `input`.
 */
export function addActivate(
  input: usize,
  residual: usize,
  n: i32,
  activation: i32,
  out: usize,
): void {
  const zero = f32x4.splat(0);
  const low = f32x4.splat(-1);
  const high = f32x4.splat(1);
  const end = (<usize>n) << 2;
  for (let at: usize = 0; at < end; at += 16) {
    let v = v128.load(input + at);
    if (residual != 0) v = f32x4.add(v, v128.load(residual + at));
    if (activation == 1) v = f32x4.max(v, zero);
    else if (activation == 2) v = f32x4.min(f32x4.max(v, low), high);
    v128.store(out + at, v);
  }
}

/** Mean over the pixels of an h*w x c tensor (c a multiple of 4): out[c]. */
export function globalAveragePool(input: usize, pixels: i32, c: i32, out: usize): void {
  const inverse = f32x4.splat(<f32>1 / <f32>pixels);
  for (let ch = 0; ch < c; ch += 4) {
    let acc = f32x4.splat(0);
    for (let p = 0; p < pixels; p++) {
      acc = f32x4.add(acc, v128.load(input + ((<usize>(p * c + ch)) << 2)));
    }
    v128.store(out + ((<usize>ch) << 2), f32x4.mul(acc, inverse));
  }
}

/**
 * Packs the signs of an h x w x c float tensor (c a multiple of 4) into a 1-bit tensor with
 * `border` zero pixels on each side: bit = 1 where x < 0. The border must already be zero.
 */
export function packSigns(input: usize, h: i32, w: i32, c: i32, out: usize, border: i32): void {
  const words = (c + 63) >> 6;
  const wp = w + 2 * border;
  const zero = f32x4.splat(0);
  for (let y = 0; y < h; y++) {
    let x = input + ((<usize>(y * w * c)) << 2);
    let o = out + ((<usize>(((y + border) * wp + border) * words)) << 3);
    for (let px = 0; px < w; px++) {
      for (let word = 0; word < words; word++) {
        const n = min(64, c - 64 * word);
        let bits: u64 = 0;
        for (let i = 0; i < n; i += 4) {
          const negative = <u64>i32x4.bitmask(f32x4.lt(v128.load(x), zero));
          bits |= negative << (<u64>i);
          x += 16;
        }
        store<u64>(o, bits);
        o += 8;
      }
    }
  }
}

/**
 * Mismatches of one output channel's weights (`k` rows of `span` words from `wt`) with four
 * input windows starting `step` bytes apart from `x` (rows `row` bytes apart), in the four
 * lanes of an i32x4: the weight word is loaded once for four pixels.
 */

function mismatches4(x: usize, step: usize, row: usize, wt: usize, k: i32, span: i32): v128 {
  let c0: u64 = 0,
    c1: u64 = 0,
    c2: u64 = 0,
    c3: u64 = 0;
  const bytes = (<usize>span) << 3;
  const triples = bytes - (bytes % 24); // three words per iteration, loads at fixed offsets
  const x1 = x + step,
    x2 = x + 2 * step,
    x3 = x + 3 * step;
  let end = wt + bytes; // the weights of one kernel row
  let delta = x - wt; // input address - weight address along the row
  for (let ky = 0; ky < k; ky++) {
    const tripleEnd = wt + triples;
    for (; wt < tripleEnd; wt += 24) {
      const w0 = load<u64>(wt);
      const w1 = load<u64>(wt, 8);
      const w2 = load<u64>(wt, 16);
      const a0 = wt + delta;
      const a1 = a0 + step;
      const a2 = a0 + 2 * step;
      const a3 = a0 + 3 * step;
      c0 += popcnt<u64>(load<u64>(a0) ^ w0) + popcnt<u64>(load<u64>(a0, 8) ^ w1);
      c1 += popcnt<u64>(load<u64>(a1) ^ w0) + popcnt<u64>(load<u64>(a1, 8) ^ w1);
      c2 += popcnt<u64>(load<u64>(a2) ^ w0) + popcnt<u64>(load<u64>(a2, 8) ^ w1);
      c3 += popcnt<u64>(load<u64>(a3) ^ w0) + popcnt<u64>(load<u64>(a3, 8) ^ w1);
      c0 += popcnt<u64>(load<u64>(a0, 16) ^ w2);
      c1 += popcnt<u64>(load<u64>(a1, 16) ^ w2);
      c2 += popcnt<u64>(load<u64>(a2, 16) ^ w2);
      c3 += popcnt<u64>(load<u64>(a3, 16) ^ w2);
    }
    for (; wt < end; wt += 8) {
      const w0 = load<u64>(wt);
      const a0 = wt + delta;
      c0 += popcnt<u64>(load<u64>(a0) ^ w0);
      c1 += popcnt<u64>(load<u64>(a0 + step) ^ w0);
      c2 += popcnt<u64>(load<u64>(a0 + 2 * step) ^ w0);
      c3 += popcnt<u64>(load<u64>(a0 + 3 * step) ^ w0);
    }
    delta += row - bytes;
    end += bytes;
  }
  return i32x4(<i32>c0, <i32>c1, <i32>c2, <i32>c3);
}

/**
 * Mismatches of two output channels' weights (`wt`, and the next channel's 9 taps later) with
 * four windows of a 3x3 stride-1 conv, one word per pixel; stored as [pixel][channel] i32 at `at`
 * (pixels `pixelBytes` apart). The four windows of a kernel row share 6 input words, so each
 * input word is loaded once for up to 6 popcounts, and each weight word once for 4.
 */
function pairMismatchesStride1OneWord(
  x: usize, row: usize, wt: usize, at: usize, pixelBytes: usize,
): void {
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0; // first channel, pixels 0-3
  let d0: u64 = 0, d1: u64 = 0, d2: u64 = 0, d3: u64 = 0; // second channel
  for (let ky = 0; ky < 3; ky++) {
    let w = load<u64>(wt);
    let v = load<u64>(wt, 72);
    const a0 = load<u64>(x);
    const a1 = load<u64>(x, 8);
    const a2 = load<u64>(x, 16);
    const a3 = load<u64>(x, 24);
    c0 += popcnt<u64>(a0 ^ w); d0 += popcnt<u64>(a0 ^ v);
    c1 += popcnt<u64>(a1 ^ w); d1 += popcnt<u64>(a1 ^ v);
    c2 += popcnt<u64>(a2 ^ w); d2 += popcnt<u64>(a2 ^ v);
    c3 += popcnt<u64>(a3 ^ w); d3 += popcnt<u64>(a3 ^ v);
    w = load<u64>(wt, 8);
    v = load<u64>(wt, 80);
    const a4 = load<u64>(x, 32);
    c0 += popcnt<u64>(a1 ^ w); d0 += popcnt<u64>(a1 ^ v);
    c1 += popcnt<u64>(a2 ^ w); d1 += popcnt<u64>(a2 ^ v);
    c2 += popcnt<u64>(a3 ^ w); d2 += popcnt<u64>(a3 ^ v);
    c3 += popcnt<u64>(a4 ^ w); d3 += popcnt<u64>(a4 ^ v);
    w = load<u64>(wt, 16);
    v = load<u64>(wt, 88);
    const a5 = load<u64>(x, 40);
    c0 += popcnt<u64>(a2 ^ w); d0 += popcnt<u64>(a2 ^ v);
    c1 += popcnt<u64>(a3 ^ w); d1 += popcnt<u64>(a3 ^ v);
    c2 += popcnt<u64>(a4 ^ w); d2 += popcnt<u64>(a4 ^ v);
    c3 += popcnt<u64>(a5 ^ w); d3 += popcnt<u64>(a5 ^ v);
    x += row;
    wt += 24;
  }
  storePairs(at, pixelBytes, c0, d0, c1, d1, c2, d2, c3, d3);
}

/**
 * pairMismatchesStride1OneWord for an even number of words per pixel, two words per iteration.
 * Inlined where `words` is a constant, so that every load has a fixed offset: that makes the
 * loop 1.1-1.5x faster.
 */
// @ts-ignore: decorator
@inline
function pairMismatchesStride1(
  x: usize, row: usize, wt: usize, words: i32, at: usize, pixelBytes: usize,
): void {
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  let d0: u64 = 0, d1: u64 = 0, d2: u64 = 0, d3: u64 = 0;
  const pitch = (<usize>words) << 3; // bytes per pixel, and per kernel tap
  const rowBytes = <usize>3 * pitch;
  const next = <usize>3 * rowBytes; // the second channel's weights
  for (let ky = 0; ky < 3; ky++) {
    const end = wt + pitch;
    for (let delta = x - wt; wt < end; wt += 16) {
      const a = wt + delta;
      let w = load<u64>(wt);
      let v = load<u64>(wt + next);
      const a0 = load<u64>(a);
      const a1 = load<u64>(a + pitch);
      const a2 = load<u64>(a + 2 * pitch);
      const a3 = load<u64>(a + rowBytes);
      c0 += popcnt<u64>(a0 ^ w); d0 += popcnt<u64>(a0 ^ v);
      c1 += popcnt<u64>(a1 ^ w); d1 += popcnt<u64>(a1 ^ v);
      c2 += popcnt<u64>(a2 ^ w); d2 += popcnt<u64>(a2 ^ v);
      c3 += popcnt<u64>(a3 ^ w); d3 += popcnt<u64>(a3 ^ v);
      w = load<u64>(wt + pitch);
      v = load<u64>(wt + next + pitch);
      const a4 = load<u64>(a + 4 * pitch);
      c0 += popcnt<u64>(a1 ^ w); d0 += popcnt<u64>(a1 ^ v);
      c1 += popcnt<u64>(a2 ^ w); d1 += popcnt<u64>(a2 ^ v);
      c2 += popcnt<u64>(a3 ^ w); d2 += popcnt<u64>(a3 ^ v);
      c3 += popcnt<u64>(a4 ^ w); d3 += popcnt<u64>(a4 ^ v);
      w = load<u64>(wt + 2 * pitch);
      v = load<u64>(wt + next + 2 * pitch);
      const a5 = load<u64>(a + 5 * pitch);
      c0 += popcnt<u64>(a2 ^ w); d0 += popcnt<u64>(a2 ^ v);
      c1 += popcnt<u64>(a3 ^ w); d1 += popcnt<u64>(a3 ^ v);
      c2 += popcnt<u64>(a4 ^ w); d2 += popcnt<u64>(a4 ^ v);
      c3 += popcnt<u64>(a5 ^ w); d3 += popcnt<u64>(a5 ^ v);
      // The next word of the same pixels and taps.
      w = load<u64>(wt, 8);
      v = load<u64>(wt + next, 8);
      const a0_ = load<u64>(a, 8);
      const a1_ = load<u64>(a + pitch, 8);
      const a2_ = load<u64>(a + 2 * pitch, 8);
      const a3_ = load<u64>(a + rowBytes, 8);
      c0 += popcnt<u64>(a0_ ^ w); d0 += popcnt<u64>(a0_ ^ v);
      c1 += popcnt<u64>(a1_ ^ w); d1 += popcnt<u64>(a1_ ^ v);
      c2 += popcnt<u64>(a2_ ^ w); d2 += popcnt<u64>(a2_ ^ v);
      c3 += popcnt<u64>(a3_ ^ w); d3 += popcnt<u64>(a3_ ^ v);
      w = load<u64>(wt + pitch, 8);
      v = load<u64>(wt + next + pitch, 8);
      const a4_ = load<u64>(a + 4 * pitch, 8);
      c0 += popcnt<u64>(a1_ ^ w); d0 += popcnt<u64>(a1_ ^ v);
      c1 += popcnt<u64>(a2_ ^ w); d1 += popcnt<u64>(a2_ ^ v);
      c2 += popcnt<u64>(a3_ ^ w); d2 += popcnt<u64>(a3_ ^ v);
      c3 += popcnt<u64>(a4_ ^ w); d3 += popcnt<u64>(a4_ ^ v);
      w = load<u64>(wt + 2 * pitch, 8);
      v = load<u64>(wt + next + 2 * pitch, 8);
      const a5_ = load<u64>(a + 5 * pitch, 8);
      c0 += popcnt<u64>(a2_ ^ w); d0 += popcnt<u64>(a2_ ^ v);
      c1 += popcnt<u64>(a3_ ^ w); d1 += popcnt<u64>(a3_ ^ v);
      c2 += popcnt<u64>(a4_ ^ w); d2 += popcnt<u64>(a4_ ^ v);
      c3 += popcnt<u64>(a5_ ^ w); d3 += popcnt<u64>(a5_ ^ v);
    }
    x += row;
    wt += rowBytes - pitch;
  }
  storePairs(at, pixelBytes, c0, d0, c1, d1, c2, d2, c3, d3);
}

/**
 * pairMismatchesStride1 for stride 2, where the four windows of a kernel row share 9 pixels
 * (the first window's last pixel is the second's first, and so on).
 */
// @ts-ignore: decorator
@inline
function pairMismatchesStride2(
  x: usize, row: usize, wt: usize, words: i32, at: usize, pixelBytes: usize,
): void {
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  let d0: u64 = 0, d1: u64 = 0, d2: u64 = 0, d3: u64 = 0;
  const pitch = (<usize>words) << 3;
  const rowBytes = <usize>3 * pitch;
  const next = <usize>3 * rowBytes;
  for (let ky = 0; ky < 3; ky++) {
    const end = wt + pitch;
    for (let delta = x - wt; wt < end; wt += 8) {
      const a = wt + delta;
      let w = load<u64>(wt);
      let v = load<u64>(wt + next);
      const a0 = load<u64>(a);
      const a2 = load<u64>(a + 2 * pitch);
      const a4 = load<u64>(a + 4 * pitch);
      const a6 = load<u64>(a + 6 * pitch);
      c0 += popcnt<u64>(a0 ^ w); d0 += popcnt<u64>(a0 ^ v);
      c1 += popcnt<u64>(a2 ^ w); d1 += popcnt<u64>(a2 ^ v);
      c2 += popcnt<u64>(a4 ^ w); d2 += popcnt<u64>(a4 ^ v);
      c3 += popcnt<u64>(a6 ^ w); d3 += popcnt<u64>(a6 ^ v);
      w = load<u64>(wt + pitch);
      v = load<u64>(wt + next + pitch);
      let b = load<u64>(a + pitch);
      c0 += popcnt<u64>(b ^ w); d0 += popcnt<u64>(b ^ v);
      b = load<u64>(a + rowBytes);
      c1 += popcnt<u64>(b ^ w); d1 += popcnt<u64>(b ^ v);
      b = load<u64>(a + 5 * pitch);
      c2 += popcnt<u64>(b ^ w); d2 += popcnt<u64>(b ^ v);
      b = load<u64>(a + 7 * pitch);
      c3 += popcnt<u64>(b ^ w); d3 += popcnt<u64>(b ^ v);
      w = load<u64>(wt + 2 * pitch);
      v = load<u64>(wt + next + 2 * pitch);
      b = load<u64>(a + 8 * pitch);
      c0 += popcnt<u64>(a2 ^ w); d0 += popcnt<u64>(a2 ^ v);
      c1 += popcnt<u64>(a4 ^ w); d1 += popcnt<u64>(a4 ^ v);
      c2 += popcnt<u64>(a6 ^ w); d2 += popcnt<u64>(a6 ^ v);
      c3 += popcnt<u64>(b ^ w); d3 += popcnt<u64>(b ^ v);
    }
    x += row;
    wt += rowBytes - pitch;
  }
  storePairs(at, pixelBytes, c0, d0, c1, d1, c2, d2, c3, d3);
}

/** Stores the counts of two adjacent channels for four pixels (pairMismatchesStride1OneWord). */
// @ts-ignore: decorator
@inline
function storePairs(
  at: usize, pixelBytes: usize,
  c0: u64, d0: u64, c1: u64, d1: u64, c2: u64, d2: u64, c3: u64, d3: u64,
): void {
  store<u64>(at, (d0 << 32) | c0);
  store<u64>(at + pixelBytes, (d1 << 32) | c1);
  store<u64>(at + 2 * pixelBytes, (d2 << 32) | c2);
  store<u64>(at + 3 * pixelBytes, (d3 << 32) | c3);
}

/**
 * The pair kernels of a 3x3 conv, with the usual word counts (64-512 channels) as constants.
 * Stride 1 needs one word per pixel or an even number of them.
 */
// @ts-ignore: decorator
@inline
function pairMismatches3x3(
  x: usize, row: usize, wt: usize, words: i32, stride: i32, at: usize, pixelBytes: usize,
): void {
  if (stride == 1 && words == 1) pairMismatchesStride1OneWord(x, row, wt, at, pixelBytes);
  else if (stride == 1 && words == 2) pairMismatchesStride1(x, row, wt, 2, at, pixelBytes);
  else if (stride == 1 && words == 4) pairMismatchesStride1(x, row, wt, 4, at, pixelBytes);
  else if (stride == 1 && words == 8) pairMismatchesStride1(x, row, wt, 8, at, pixelBytes);
  else if (stride == 1) pairMismatchesStride1(x, row, wt, words, at, pixelBytes); // even words
  else if (words == 1) pairMismatchesStride2(x, row, wt, 1, at, pixelBytes);
  else if (words == 2) pairMismatchesStride2(x, row, wt, 2, at, pixelBytes);
  else if (words == 4) pairMismatchesStride2(x, row, wt, 4, at, pixelBytes);
  else pairMismatchesStride2(x, row, wt, words, at, pixelBytes);
}

/** Mismatches of one output channel's weights with one input window (see mismatches4). */
function mismatches(x: usize, row: usize, wt: usize, k: i32, span: i32): i32 {
  let count: u64 = 0;
  for (let ky = 0; ky < k; ky++) {
    for (let j = 0; j < span; j++) {
      const at = (<usize>j) << 3;
      count += popcnt<u64>(load<u64>(x + at) ^ load<u64>(wt + at));
    }
    x += row;
    wt += (<usize>span) << 3;
  }
  return <i32>count;
}

/**
 * 1-bit k x k convolution by XNOR and popcount, with TensorFlow's zero padding:
 * out[oy][ox][co] = scale[co] * dot + bias[co] (+ residual[oy][ox][co] when residual != 0), where
 * dot = sum over in-bounds taps of sign(x) * sign(w) = valid taps * cin - 2 * mismatches.
 *
 * `input` is the packed tensor, `w` pixels wide, with its border; `weights` are the packed signs
 * as [cout][k][k][words]. A tap over the zero border counts the weight's 1 bits as mismatches,
 * so dot = base - 2 * mismatches, with base = valid taps * cin + 2 * those bits: it depends only
 * on which taps of the window are in bounds, and the runtime computes it once, for every
 * distinct window position, as `bases` [row case][column case][cout] (i32), where `rowCase[oy]`
 * and `colCase[ox]` (i32) number the cases and `colCases` counts the column cases.
 * Output pixels go four at a time along a row, so that each weight word is loaded once for four
 * (3x3 convs also take two output channels at a time and load each input word once for the
 * windows that share it: pairMismatches3x3); their mismatch counts wait in `scratch`
 * (4 * cout i32) for a SIMD pass over the channels. cout must be a multiple of 4.
 */
export function binaryConv(
  input: usize,
  w: i32,
  cin: i32,
  border: i32,
  weights: usize,
  cout: i32,
  k: i32,
  stride: i32,
  padTop: i32,
  padLeft: i32,
  bases: usize,
  rowCase: usize,
  colCase: usize,
  colCases: i32,
  scale: usize,
  bias: usize,
  residual: usize,
  out: usize,
  oh: i32,
  ow: i32,
  scratch: usize,
): void {
  const words = (cin + 63) >> 6;
  const span = k * words;
  const wp = w + 2 * border;
  const row = (<usize>(wp * words)) << 3;
  const step = (<usize>(stride * words)) << 3;
  const channelBytes = (<usize>(k * span)) << 3;
  const pixelBytes = (<usize>cout) << 2;
  // See pairMismatches3x3; others take mismatches4, one channel at a time.
  const pairs = k == 3 && (stride == 2 || (stride == 1 && (words == 1 || words % 2 == 0)));
  for (let oy = 0; oy < oh; oy++) {
    const iy = oy * stride - padTop; // input row of the windows' first kernel row
    const rowBases =
      bases + ((<usize>(load<i32>(rowCase + ((<usize>oy) << 2)) * colCases * cout)) << 2);
    for (let ox = 0; ox < ow;) {
      // Blocks of 4 pixels from bx; a row's last block overlaps the one before rather than
      // running short (only rows narrower than 4 have short blocks), and skips what it repeats.
      const bx = ow >= 4 ? min(ox, ow - 4) : ox;
      const n = min(4, ow - bx); // pixels in this block
      const ix = bx * stride - padLeft;
      const x = input + ((<usize>(((iy + border) * wp + ix + border) * words)) << 3);
      // Mismatch counts as [pixel][channel]; a short block computes its missing pixels
      // from valid memory (the last window again) and ignores them.
      const last = <usize>(n - 1);
      const s1 = min<usize>(1, last) * step;
      const s2 = min<usize>(2, last) * step;
      const s3 = last * step;
      let wt = weights;
      if (n == 4 && pairs) {
        for (let co = 0; co < cout; co += 2) {
          pairMismatches3x3(x, row, wt, words, stride, scratch + ((<usize>co) << 2), pixelBytes);
          wt += 2 * channelBytes;
        }
      } else {
        for (let co = 0; co < cout; co++) {
          const counts =
            n == 4
              ? mismatches4(x, step, row, wt, k, span)
              : i32x4(
                  mismatches(x, row, wt, k, span),
                  mismatches(x + s1, row, wt, k, span),
                  mismatches(x + s2, row, wt, k, span),
                  mismatches(x + s3, row, wt, k, span),
                );
          const at = scratch + ((<usize>co) << 2);
          store<i32>(at, i32x4.extract_lane(counts, 0));
          store<i32>(at + pixelBytes, i32x4.extract_lane(counts, 1));
          store<i32>(at + 2 * pixelBytes, i32x4.extract_lane(counts, 2));
          store<i32>(at + 3 * pixelBytes, i32x4.extract_lane(counts, 3));
          wt += channelBytes;
        }
      }
      for (let p = ox - bx; p < n; p++) {
        const column = load<i32>(colCase + ((<usize>(bx + p)) << 2));
        const base = rowBases + ((<usize>(column * cout)) << 2);
        const counts = scratch + <usize>p * pixelBytes;
        const o = (<usize>((oy * ow + bx + p) * cout)) << 2;
        for (let co = 0; co < cout; co += 4) {
          const c = (<usize>co) << 2;
          const dot = i32x4.sub(v128.load(base + c), i32x4.shl(v128.load(counts + c), 1));
          let value = f32x4.add(
            f32x4.mul(v128.load(scale + c), f32x4.convert_i32x4_s(dot)),
            v128.load(bias + c),
          );
          if (residual != 0) value = f32x4.add(value, v128.load(residual + o + c));
          v128.store(out + o + c, value);
        }
      }
      ox = bx + n;
    }
  }
}

/**
 * The kernels' popcount ceiling: `rounds` calls of the 1-bit convs' fastest inner loop (two
 * channels x four pixels of a 3x3 stride-1 conv with 64 input channels, 4608 binary
 * multiply-accumulates) on L1-resident data: `input` holds 3 rows of 6 words, `weights` 18
 * words, `counts` 8 i32. Returns the mismatches of the last call's first pixel and channel.
 */
export function popcountPeak(input: usize, weights: usize, counts: usize, rounds: i32): i32 {
  for (let r = 0; r < rounds; r++) pairMismatchesStride1OneWord(input, 48, weights, counts, 8);
  return load<i32>(counts);
}
