// The packed inference engine's native kernels (src/engine/native.ts, Node only): steps of the
// WebAssembly kernels (src/engine/wasm/kernels.ts) run natively, on one thread, on the wasm
// engine's own memory. Every kernel takes that memory as an ArrayBuffer and its buffers as byte
// offsets into it, as the wasm kernels do, and checks that what it reads and writes lies inside.
//
// - 1-bit convolutions (binaryConv) by XOR and popcount, on AVX-512 VPOPCNTDQ where the CPU has
//   it, else on AVX2 (per-byte popcounts by nibble lookups, vpshufb, summed by vpsadbw), chosen
//   by the caller from engineIsas(). The vector code carries function-level target options
//   (#pragma GCC target), not global ones, so the addon loads on any x86-64 CPU. Same integer
//   counts as wasm and the same float epilogue in the same order: identical outputs.
// - Sign packing (packSigns) and pooling (pool), on AVX2: identical bits (but for NaNs).
// - Float convolutions (dense layers as 1x1 ones) on oneDNN, planned once per layer (weights
//   reordered at load), run on one OpenMP thread: within float rounding of wasm.
//
// The same 1-bit kernels also run training's 1-bit convolutions (binaryConv2d, src/backend/
// native.ts): on float tensors, the signs packed per image, images on OpenMP threads.
//
// Sizes are 32-bit, their products 64-bit and checked for overflow (boundary.h), and every
// export runs guarded: bad arguments give JavaScript errors, never a crash.
#include "engine.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "boundary.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using boundary::product;
using boundary::require;

// ---- Arguments ------------------------------------------------------------------------------

// The engine's memory, and the buffers of one call in it.
struct Memory {
  uint8_t* data;
  int64_t bytes;
  Napi::Env env;

  // `count` elements of T at byte offset `offset`, aligned for T, or a RangeError naming `what`.
  template <class T>
  T* at(int64_t offset, int64_t count, const char* what) const {
    const int64_t size = sizeof(T);
    if (offset < 0 || count < 0 || offset > bytes || count > (bytes - offset) / size) {
      throw Napi::RangeError::New(env, std::string(what) + ": " + std::to_string(count) + " x " +
                                           std::to_string(size) + " bytes at byte " +
                                           std::to_string(offset) +
                                           ", outside the engine's memory of " +
                                           std::to_string(bytes) + " bytes");
    }
    require(offset % alignof(T) == 0, env,
            std::string(what) + ": byte " + std::to_string(offset) + " is not a multiple of " +
                std::to_string(alignof(T)));
    return reinterpret_cast<T*>(data + offset);
  }
};

Memory memoryOf(const Napi::Value& value, const char* kernel) {
  if (!value.IsArrayBuffer()) {
    throw Napi::TypeError::New(value.Env(),
                               std::string(kernel) + ": memory must be an ArrayBuffer");
  }
  auto buffer = value.As<Napi::ArrayBuffer>();
  return {static_cast<uint8_t*>(buffer.Data()), static_cast<int64_t>(buffer.ByteLength()),
          value.Env()};
}

// The contents of an Int32Array of `count` elements.
const int32_t* int32s(const Napi::Value& value, size_t count, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      value.As<Napi::Int32Array>().ElementLength() != count) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an Int32Array of " +
                                                std::to_string(count));
  }
  return value.As<Napi::Int32Array>().Data();
}

// ---- 1-bit convolution: geometry -------------------------------------------------------------

// The wasm binaryConv's 21 arguments (see its comment), in its order.
struct BinaryConvArgs {
  int32_t input, w, cin, border, weights, cout, k, stride, padTop, padLeft, bases, rowCase,
      colCase, colCases, scale, bias, residual, out, oh, ow, scratch;
};
static_assert(sizeof(BinaryConvArgs) == 21 * sizeof(int32_t));

// One 1-bit convolution's constants.
struct BinaryConv {
  const uint64_t* weights;  // [ceil(cout / 8)][k][span][tap words]: see the ISAs' kTapWords
  int64_t groupWords;       // words of one group of 8 output channels: k * span * tap words
  int cout, k, span;        // span: words of one kernel row, k * words per pixel
  int64_t rowWords;         // words of one input row, border included
  const float* scale;
  const float* bias;
};

// A block of output pixels: where each one's window starts, its dot bases (see the wasm
// binaryConv), residual (nullptr: none) and output lie, and the kernel's working memory (its
// instruction set's scratchWords(taps) words).
template <int Pixels>
struct PixelBlock {
  const uint64_t* window[Pixels];
  const int32_t* bases[Pixels];
  const float* residual[Pixels];
  float* out[Pixels];
  uint64_t* scratch;
};

// Where the output pixels of one 1-bit convolution read and write: the packed input (`wp`
// pixels of `words` words per row, border included) and the first window's row and column in
// it, the windows' stride, the row and column cases of each output pixel and their dot bases,
// the residual (or nullptr) and the output.
struct OutputPixels {
  const uint64_t* input;
  int64_t top, left, wp, words;
  int stride, oh, ow, colCases;
  const int32_t* rowCase;
  const int32_t* colCase;
  const int32_t* bases;
  const float* residual;
  float* out;
};

// Runs the 1-bit kernels of an instruction set (avx2::Kernels, avx512::Kernels: a block of
// kPixels pixels, kTapWords words per tap of a group of 8 output channels, scratchWords(taps)
// words of working memory per block, convolve) on blocks of output pixels, in row-major order
// across rows; the last block overlaps the one before rather than running short (outputs of
// fewer pixels repeat the last one). `scratch` holds scratchWords(k * span) words.
template <class Kernels>
void convolvePixels(const BinaryConv& conv, const OutputPixels& at, uint64_t* scratch) {
  constexpr int kBlock = Kernels::kPixels;
  const int64_t pixels = int64_t{at.oh} * at.ow;
  for (int64_t next = 0; next < pixels; next += kBlock) {
    const int64_t first = std::max<int64_t>(0, std::min(next, pixels - kBlock));
    PixelBlock<kBlock> block;
    block.scratch = scratch;
    for (int p = 0; p < kBlock; p++) {
      const int64_t i = std::min(first + p, pixels - 1), oy = i / at.ow, ox = i % at.ow;
      block.window[p] =
          at.input + ((at.top + oy * at.stride) * at.wp + at.left + ox * at.stride) * at.words;
      const int64_t windowCase = int64_t{at.rowCase[oy]} * at.colCases + at.colCase[ox];
      block.bases[p] = at.bases + windowCase * conv.cout;
      block.residual[p] = at.residual == nullptr ? nullptr : at.residual + i * conv.cout;
      block.out[p] = at.out + i * conv.cout;
    }
    Kernels::convolve(conv, block);
  }
}

// The engine's 1-bit convolution on its memory: checks every buffer against the memory, then
// convolves.
template <class Kernels>
void binaryConvolution(const Memory& memory, const BinaryConvArgs& a) {
  const Napi::Env& env = memory.env;
  require(a.cin > 0 && a.w > 0 && a.k > 0 && a.stride > 0 && a.oh > 0 && a.ow > 0 &&
              a.border >= 0 && a.colCases > 0,
          env, "binaryConv: sizes must be positive");
  require(a.cout > 0 && a.cout % 4 == 0, env, "binaryConv: cout must be a multiple of 4");
  // In 64 bits: sums and products of 32-bit arguments.
  const int64_t words = (int64_t{a.cin} + 63) / 64, wp = int64_t{a.w} + 2 * int64_t{a.border};
  const int64_t top = int64_t{a.border} - a.padTop, left = int64_t{a.border} - a.padLeft;
  require(top >= 0 && left >= 0 && left + int64_t{a.ow - 1} * a.stride + a.k <= wp, env,
          "binaryConv: windows past the input's border");
  const int64_t rows = top + int64_t{a.oh - 1} * a.stride + a.k;
  const uint64_t* input =
      memory.at<uint64_t>(a.input, product(env, {rows, wp, words}, "binaryConv input"),
                          "binaryConv input");
  const int64_t pixels = int64_t{a.oh} * a.ow, groups = (int64_t{a.cout} + 7) / 8;
  // The kernels count a group's taps and words in int.
  const int64_t groupWords =
      product(env, {a.k, a.k, words, Kernels::kTapWords}, "binaryConv weights");
  require(groupWords <= INT32_MAX, env, "binaryConv: kernel too large");
  const int32_t* rowCase = memory.at<int32_t>(a.rowCase, a.oh, "binaryConv rowCase");
  const int32_t* colCase = memory.at<int32_t>(a.colCase, a.ow, "binaryConv colCase");
  int64_t rowCases = 0;
  for (int i = 0; i < a.oh; i++) {
    require(rowCase[i] >= 0, env, "binaryConv: negative row case");
    rowCases = std::max<int64_t>(rowCases, int64_t{rowCase[i]} + 1);
  }
  for (int i = 0; i < a.ow; i++) {
    require(colCase[i] >= 0 && colCase[i] < a.colCases, env,
            "binaryConv: column case out of range");
  }
  const int32_t* bases = memory.at<int32_t>(
      a.bases, product(env, {rowCases, a.colCases, a.cout}, "binaryConv bases"),
      "binaryConv bases");
  const int64_t outputs = product(env, {pixels, a.cout}, "binaryConv out");
  const float* residual =
      a.residual == 0 ? nullptr : memory.at<float>(a.residual, outputs, "binaryConv residual");
  float* out = memory.at<float>(a.out, outputs, "binaryConv out");
  const BinaryConv conv{
      memory.at<uint64_t>(a.weights, groups * groupWords, "binaryConv weights"),
      groupWords,
      a.cout,
      a.k,
      static_cast<int>(a.k * words),
      wp * words,
      memory.at<float>(a.scale, a.cout, "binaryConv scale"),
      memory.at<float>(a.bias, a.cout, "binaryConv bias"),
  };
  thread_local std::vector<uint64_t> scratch;  // reused from call to call
  scratch.resize(Kernels::scratchWords(int64_t{a.k} * conv.span));
  const OutputPixels at{input,     top,     left,    wp,    words,    a.stride, a.oh, a.ow,
                        a.colCases, rowCase, colCase, bases, residual, out};
  convolvePixels<Kernels>(conv, at, scratch.data());
}

// ---- AVX2 ------------------------------------------------------------------------------------

#pragma GCC push_options
#pragma GCC target("avx2,popcnt")
namespace avx2 {

// binaryConv's epilogue in the wasm kernel's order of operations: scale * (base - 2 * mismatches)
// + bias, for 8 channels.
inline __m256 scaled(__m256i bases, __m256i mismatches, __m256 scale, __m256 bias) {
  const __m256i dot = _mm256_sub_epi32(bases, _mm256_slli_epi32(mismatches, 1));
  return _mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(dot)), bias);
}

// The epilogue's outputs (plus the residual) of the 8 channels from `co`, or of the last ones.
inline void finish(const BinaryConv& conv, const int32_t* bases, const float* residual,
                   float* out, int co, __m256i mismatches) {
  if (conv.cout - co >= 8) {
    const __m256i base = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bases + co));
    __m256 value = scaled(base, mismatches, _mm256_loadu_ps(conv.scale + co),
                          _mm256_loadu_ps(conv.bias + co));
    if (residual != nullptr) value = _mm256_add_ps(value, _mm256_loadu_ps(residual + co));
    _mm256_storeu_ps(out + co, value);
    return;
  }
  const __m256i mask =  // cout ends in these 8 channels
      _mm256_cmpgt_epi32(_mm256_set1_epi32(conv.cout - co),
                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 value =
      scaled(_mm256_maskload_epi32(bases + co, mask), mismatches,
             _mm256_maskload_ps(conv.scale + co, mask), _mm256_maskload_ps(conv.bias + co, mask));
  if (residual != nullptr) value = _mm256_add_ps(value, _mm256_maskload_ps(residual + co, mask));
  _mm256_maskstore_ps(out + co, mask, value);
}

constexpr int kPixels = 2;
// Words of one tap of a group of 8 output channels: its 8 channels' words split into nibbles,
// the low ones (w & 0x0f0f...) then the high ones ((w >> 4) & 0x0f0f...) (see
// nativeBinaryWeights).
constexpr int kTapWords = 16;
// Per-byte counts add up over at most this many taps (31 * 8 < 256).
constexpr int kByteSpan = 31;

// Mismatches of the 8 output channels of `group` with the block's windows (split into nibbles,
// `taps` per window), by looking up the popcount of each nibble of x ^ w (vpshufb), summed per
// byte, then per channel by vpsadbw. Input and weights come split into nibbles (the input once
// per window, the weights at load), so that a 256-bit word of 4 channels costs 2 XORs, 2
// lookups and 2 adds, where splitting it here would cost 3 more ops. (Harley-Seal's carry-save
// adders need about 6 ops per word and a costly final count of their bits of weight 1, 2, 4:
// too much for windows of 9 to 72 words; measured slower.)
void convolveGroup(const BinaryConv& conv, const uint64_t* windows, int taps, int group,
                   const PixelBlock<kPixels>& block) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i zero = _mm256_setzero_si256();
  __m256i total[kPixels][2];  // u64 per channel
  for (auto& pixel : total) pixel[0] = pixel[1] = zero;
  const uint64_t* weights = conv.weights + group * conv.groupWords;
  for (int t0 = 0; t0 < taps; t0 += kByteSpan) {
    __m256i bytes[kPixels][2];
    for (auto& pixel : bytes) pixel[0] = pixel[1] = zero;
    for (int t = t0; t < std::min(taps, t0 + kByteSpan); t++) {
      const uint64_t* w = weights + t * kTapWords;
      for (int p = 0; p < kPixels; p++) {
        const uint64_t* x = windows + (int64_t{p} * taps + t) * 2;
        for (int h = 0; h < 2; h++) {
          for (int nibble = 0; nibble < 2; nibble++) {
            const __m256i xs = _mm256_set1_epi64x(static_cast<int64_t>(x[nibble]));
            const auto* ws = reinterpret_cast<const __m256i*>(w + 8 * nibble + 4 * h);
            const __m256i counts =
                _mm256_shuffle_epi8(table, _mm256_xor_si256(xs, _mm256_loadu_si256(ws)));
            bytes[p][h] = _mm256_add_epi8(bytes[p][h], counts);
          }
        }
      }
    }
    for (int p = 0; p < kPixels; p++) {
      for (int h = 0; h < 2; h++) {
        total[p][h] = _mm256_add_epi64(total[p][h], _mm256_sad_epu8(bytes[p][h], zero));
      }
    }
  }
  const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (int p = 0; p < kPixels; p++) {
    // Channels 0-3 in the low halves of the u64 lanes of total[p][0], 4-7 of [1]: as 8 i32.
    const __m256i both = _mm256_blend_epi32(total[p][0], _mm256_slli_epi64(total[p][1], 32), 0xaa);
    finish(conv, block.bases[p], block.residual[p], block.out[p], group * 8,
           _mm256_permutevar8x32_epi32(both, order));
  }
}

// First splits the block's windows into nibbles, into its scratch: each one's k rows of span
// words into one run of k * span taps of two words (low nibbles, high ones). Then every group of
// channels reads them.
void convolve(const BinaryConv& conv, const PixelBlock<kPixels>& block) {
  const int taps = conv.k * conv.span;
  const uint64_t nibbles = 0x0f0f0f0f0f0f0f0full;
  uint64_t* split = block.scratch;
  for (int p = 0; p < kPixels; p++) {
    for (int ky = 0; ky < conv.k; ky++) {
      const uint64_t* x = block.window[p] + ky * conv.rowWords;
      for (int j = 0; j < conv.span; j++, split += 2) {
        split[0] = x[j] & nibbles;
        split[1] = (x[j] >> 4) & nibbles;
      }
    }
  }
  // One group of channels at a time: 2 pixels x 2 groups, or 3 or 4 pixels x 1 group, spill
  // from the 16 ymm registers and measured slower.
  for (int group = 0; group < (conv.cout + 7) / 8; group++) {
    convolveGroup(conv, block.scratch, taps, group, block);
  }
}

// The kernels above, for the templates that run them.
struct Kernels {
  static constexpr int kPixels = avx2::kPixels, kTapWords = avx2::kTapWords;
  static int64_t scratchWords(int64_t taps) { return int64_t{kPixels} * taps * 2; }
  static void convolve(const BinaryConv& conv, const PixelBlock<kPixels>& block) {
    avx2::convolve(conv, block);
  }
};

// The wasm packSigns: an h x w x c float tensor as 1-bit words, bit 1 where x < 0, into a tensor
// with `border` pixels on each side (left as they are: zero).
void packSigns(const float* x, int h, int w, int c, uint64_t* out, int border) {
  const int64_t words = (int64_t{c} + 63) / 64, wp = int64_t{w} + 2 * int64_t{border};
  for (int y = 0; y < h; y++) {
    uint64_t* o = out + ((int64_t{y} + border) * wp + border) * words;
    for (int px = 0; px < w; px++) {
      for (int word = 0; word < words; word++) {
        const int n = std::min(64, c - 64 * word);
        uint64_t bits = 0;
        int i = 0;
        for (; i + 8 <= n; i += 8, x += 8) {
          const __m256 negative =
              _mm256_cmp_ps(_mm256_loadu_ps(x), _mm256_setzero_ps(), _CMP_LT_OQ);
          bits |= static_cast<uint64_t>(_mm256_movemask_ps(negative)) << i;
        }
        for (; i < n; i++, x++) bits |= static_cast<uint64_t>(*x < 0.0f) << i;
        *o++ = bits;
      }
    }
  }
}

// An 8 x 8 bit matrix (byte i, bit j) transposed (byte j, bit i).
inline uint64_t transpose8x8(uint64_t x) {
  uint64_t t = (x ^ (x >> 7)) & 0x00aa00aa00aa00aaull;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000cccc0000ccccull;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000f0f0f0f0ull;
  return x ^ t ^ (t << 28);
}

// The signs of 1-bit weights wb [taps][cin][cout] (bit 1 where negative) in the native 1-bit
// kernels' layout (see nativeBinaryWeights): [ceil(cout / 8)][taps][words][8 channels], zero past
// cout; with `split`, the AVX2 kernel's, each word split into its low and high nibbles,
// [..][words][2][8 channels]. Adds the negative weights of each tap and channel to `negatives`
// [taps][cout]. Returns whether each weight's magnitude is its channel's `scale`. The words of
// each tap run on OpenMP threads, reading whole rows of wb: 8 input channels give each group of 8
// output channels 8 sign masks, transposed into a byte of each channel's word. `scratch` holds
// 9 * ceil(cout / 8) words per thread.
bool packWeightSigns(const float* wb, int64_t taps, int cin, int cout, const float* scale,
                     bool split, uint64_t* out, int32_t* negatives, uint64_t* scratch) {
  const int64_t words = (int64_t{cin} + 63) / 64, groups = (int64_t{cout} + 7) / 8;
  const int tapWords = split ? 16 : 8;
  const uint64_t nibbles = 0x0f0f0f0f0f0f0f0full;
  const auto inUse = [cout](int64_t group) {  // the lanes of a group's channels below cout
    const int64_t lanes = std::min<int64_t>(8, cout - group * 8);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  };
  int mismatched = 0;
#pragma omp parallel for schedule(static) reduction(| : mismatched)
  for (int64_t unit = 0; unit < taps * words; unit++) {
    const int64_t tap = unit / words, word = unit % words;
    uint64_t* masks = scratch + omp_get_thread_num() * 9 * groups;  // byte i: channel ci8 + i
    uint64_t* bits = masks + groups;                                  // [groups][8 channels]
    std::fill(bits, bits + 8 * groups, 0);
    const int first = static_cast<int>(word * 64), end = std::min(cin, first + 64);
    for (int ci8 = first; ci8 < end; ci8 += 8) {
      std::fill(masks, masks + groups, 0);
      for (int ci = ci8; ci < std::min(end, ci8 + 8); ci++) {
        const float* row = wb + (tap * cin + ci) * cout;
        for (int64_t group = 0; group < groups; group++) {
          const __m256i lanes = inUse(group);
          const __m256 v = _mm256_maskload_ps(row + group * 8, lanes);
          const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
          const __m256 expected = _mm256_maskload_ps(scale + group * 8, lanes);
          mismatched |= _mm256_movemask_ps(_mm256_cmp_ps(magnitude, expected, _CMP_NEQ_UQ));
          const int negative =
              _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
          masks[group] |= static_cast<uint64_t>(negative) << (8 * (ci - ci8));
        }
      }
      for (int64_t group = 0; group < groups; group++) {
        const uint64_t byChannel = transpose8x8(masks[group]);  // byte j: channel j's 8 bits
        for (int j = 0; j < 8; j++) {
          bits[group * 8 + j] |= ((byChannel >> (8 * j)) & 0xff) << (ci8 - first);
        }
      }
    }
    for (int64_t group = 0; group < groups; group++) {
      uint64_t* to = out + ((group * taps + tap) * words + word) * tapWords;
      for (int j = 0; j < 8; j++) {
        const uint64_t b = bits[group * 8 + j];
        if (split) {
          to[j] = b & nibbles;
          to[8 + j] = (b >> 4) & nibbles;
        } else {
          to[j] = b;
        }
      }
    }
  }
  for (int64_t tap = 0; tap < taps; tap++) {
    for (int co = 0; co < cout; co++) {
      const uint64_t* from = out + ((co / 8) * taps + tap) * words * tapWords + co % 8;
      for (int64_t word = 0; word < words; word++, from += tapWords) {
        negatives[tap * cout + co] +=
            __builtin_popcountll(from[0]) + (split ? __builtin_popcountll(from[8]) : 0);
      }
    }
  }
  return mismatched == 0;
}

// max(a, b) as wasm's f32x4.max gives it for every input but NaN: maxps returns its second
// operand for +0 against -0, wasm +0; taking it both ways round and ANDing gives +0.
inline __m256 wasmMax(__m256 a, __m256 b) {
  return _mm256_and_ps(_mm256_max_ps(a, b), _mm256_max_ps(b, a));
}

// 8 floats at `at`, or with `Half`, 4 (the rest zero).
template <bool Half>
inline __m256 load(const float* at) {
  return Half ? _mm256_castps128_ps256(_mm_loadu_ps(at)) : _mm256_loadu_ps(at);
}

// The wasm pool: over each k x k window (stride `stride`, its first cell at -padTop, -padLeft),
// the max, or with `Average` the average over the cells inside the input, of an h x w x c tensor
// (c a multiple of 4) into oh x ow x c. The same operations in the same order as wasm (from the
// window's first cell, row by row, then times 1 / cells): identical outputs. Each 8 channels
// (with `Half` the last 4) of an output pixel stay in a register over the window.
template <bool Average, bool Half>
inline void poolChannels(const float* x, int w, int c, int y0, int y1, int x0, int x1,
                         __m256 inverse, float* out) {
  __m256 acc = load<Half>(x + (int64_t{y0} * w + x0) * c);
  for (int y = y0; y < y1; y++) {
    for (int xx = y == y0 ? x0 + 1 : x0; xx < x1; xx++) {
      const __m256 v = load<Half>(x + (int64_t{y} * w + xx) * c);
      acc = Average ? _mm256_add_ps(acc, v) : wasmMax(acc, v);
    }
  }
  if (Average) acc = _mm256_mul_ps(acc, inverse);
  if (Half) {
    _mm_storeu_ps(out, _mm256_castps256_ps128(acc));
  } else {
    _mm256_storeu_ps(out, acc);
  }
}

template <bool Average>
void pool(const float* x, int h, int w, int c, int k, int stride, int padTop, int padLeft,
          float* out, int oh, int ow) {
  // A window's first row (or column) and its end in 64 bits, where they can pass 2^31; clipped to
  // the input, they are ints again.
  const auto window = [k](int o, int stride, int pad, int size) {
    const int64_t first = int64_t{o} * stride - pad;
    return std::make_pair(static_cast<int>(std::max<int64_t>(first, 0)),
                          static_cast<int>(std::min<int64_t>(first + k, size)));
  };
  for (int oy = 0; oy < oh; oy++) {
    const auto [y0, y1] = window(oy, stride, padTop, h);
    for (int ox = 0; ox < ow; ox++, out += c) {
      const auto [x0, x1] = window(ox, stride, padLeft, w);
      const float cells = static_cast<float>(int64_t{y1 - y0} * (x1 - x0));
      const __m256 inverse = _mm256_set1_ps(1.0f / cells);
      int ch = 0;
      for (; ch + 8 <= c; ch += 8) {
        poolChannels<Average, false>(x + ch, w, c, y0, y1, x0, x1, inverse, out + ch);
      }
      if (ch < c) poolChannels<Average, true>(x + ch, w, c, y0, y1, x0, x1, inverse, out + ch);
    }
  }
}

}  // namespace avx2
#pragma GCC pop_options

// ---- AVX-512 VPOPCNTDQ -----------------------------------------------------------------------

#pragma GCC push_options
#pragma GCC target("avx2,popcnt,avx512f,avx512vl,avx512bw,avx512dq,avx512vpopcntdq")
namespace avx512 {

constexpr int kPixels = 4;
constexpr int kTapWords = 8;  // a tap's words of a group of 8 output channels, one per channel

// Mismatches of `Groups` groups of 8 output channels from `group` with the block's windows:
// each input word is broadcast against 8 channels' words (XOR, VPOPCNTQ, add).
template <int Groups>
void convolveGroups(const BinaryConv& conv, const PixelBlock<kPixels>& block, int group) {
  __m512i total[kPixels][Groups];
  for (auto& pixel : total) for (auto& g : pixel) g = _mm512_setzero_si512();
  const uint64_t* weights = conv.weights + group * conv.groupWords;
  for (int ky = 0; ky < conv.k; ky++) {
    const int64_t row = ky * conv.rowWords;
    for (int j = 0; j < conv.span; j++) {
      const uint64_t* tap = weights + (ky * conv.span + j) * kTapWords;
      __m512i w[Groups];
      for (int g = 0; g < Groups; g++) w[g] = _mm512_loadu_si512(tap + g * conv.groupWords);
      for (int p = 0; p < kPixels; p++) {
        const __m512i x = _mm512_set1_epi64(static_cast<int64_t>(block.window[p][row + j]));
        for (int g = 0; g < Groups; g++) {
          const __m512i mismatches = _mm512_popcnt_epi64(_mm512_xor_si512(x, w[g]));
          total[p][g] = _mm512_add_epi64(total[p][g], mismatches);
        }
      }
    }
  }
  for (int p = 0; p < kPixels; p++) {
    for (int g = 0; g < Groups; g++) {
      avx2::finish(conv, block.bases[p], block.residual[p], block.out[p], (group + g) * 8,
                   _mm512_maskz_cvtepi64_epi32(0xff, total[p][g]));  // unmasked: GCC 12 warns
    }
  }
}

void convolve(const BinaryConv& conv, const PixelBlock<kPixels>& block) {
  const int groups = (conv.cout + 7) / 8;
  int group = 0;
  for (; group + 4 <= groups; group += 4) convolveGroups<4>(conv, block, group);
  for (; group < groups; group++) convolveGroups<1>(conv, block, group);
}

// The kernels above, for the templates that run them.
struct Kernels {
  static constexpr int kPixels = avx512::kPixels, kTapWords = avx512::kTapWords;
  static int64_t scratchWords(int64_t) { return 0; }
  static void convolve(const BinaryConv& conv, const PixelBlock<kPixels>& block) {
    avx512::convolve(conv, block);
  }
};

}  // namespace avx512
#pragma GCC pop_options

// ---- Instruction sets ------------------------------------------------------------------------

// The 1-bit kernels' instruction sets, numbered as engineBinaryConv takes them.
enum Isa { kAvx2 = 0, kAvx512 = 1 };
const char* const kIsaNames[] = {"avx2", "avx512-vpopcntdq"};

bool supports(Isa isa) {
  __builtin_cpu_init();
  if (isa == kAvx512) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vpopcntdq") && supports(kAvx2);
  }
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}

// engineIsas(): the names of the instruction sets this CPU runs the 1-bit kernels on, best first.
Napi::Value EngineIsas(const Napi::CallbackInfo& info) {
  auto names = Napi::Array::New(info.Env());
  for (Isa isa : {kAvx512, kAvx2}) {
    if (supports(isa)) names.Set(names.Length(), kIsaNames[isa]);
  }
  return names;
}

// enginePackSigns(memory, Int32Array [input, h, w, c, out, border]): the wasm packSigns.
void EnginePackSigns(const Napi::CallbackInfo& info) {
  static const bool avx2 = supports(kAvx2);
  Memory memory = memoryOf(info[0], "packSigns");
  const int32_t* a = int32s(info[1], 6, "packSigns arguments");
  const int h = a[1], w = a[2], c = a[3], border = a[5];
  require(avx2, info.Env(), "packSigns: this CPU has no AVX2");
  require(h > 0 && w > 0 && c > 0 && c % 4 == 0 && border >= 0, info.Env(),
          "packSigns: sizes must be positive, channels a multiple of 4");
  const int64_t words = (int64_t{c} + 63) / 64;
  const float* x = memory.at<float>(a[0], product(info.Env(), {h, w, c}, "packSigns input"),
                                    "packSigns input");
  const int64_t padded = product(
      info.Env(), {int64_t{h} + 2 * int64_t{border}, int64_t{w} + 2 * int64_t{border}, words},
      "packSigns out");
  uint64_t* out = memory.at<uint64_t>(a[4], padded, "packSigns out");
  avx2::packSigns(x, h, w, c, out, border);
}

// enginePool(memory, Int32Array [input, h, w, c, size, stride, padTop, padLeft, out, oh, ow,
// average]): the wasm pool, max (average 0) or average pooling.
void EnginePool(const Napi::CallbackInfo& info) {
  static const bool avx2 = supports(kAvx2);
  Memory memory = memoryOf(info[0], "pool");
  const int32_t* a = int32s(info[1], 12, "pool arguments");
  const int h = a[1], w = a[2], c = a[3], k = a[4], stride = a[5], padTop = a[6], padLeft = a[7],
            oh = a[9], ow = a[10];
  require(avx2, info.Env(), "pool: this CPU has no AVX2");
  require(h > 0 && w > 0 && c > 0 && c % 4 == 0 && k > 0 && stride > 0 && oh > 0 && ow > 0,
          info.Env(), "pool: sizes must be positive, channels a multiple of 4");
  // Every window must hold a cell of the input: its first one starts the max or the sum.
  require(padTop >= 0 && padLeft >= 0 && padTop < k && padLeft < k &&
              int64_t{oh - 1} * stride - padTop < h && int64_t{ow - 1} * stride - padLeft < w,
          info.Env(), "pool: windows outside the input");
  const float* x =
      memory.at<float>(a[0], product(info.Env(), {h, w, c}, "pool input"), "pool input");
  float* out = memory.at<float>(a[8], product(info.Env(), {oh, ow, c}, "pool out"), "pool out");
  (a[11] != 0 ? avx2::pool<true> : avx2::pool<false>)(x, h, w, c, k, stride, padTop, padLeft, out,
                                                      oh, ow);
}

// engineBinaryConv(isa, memory, Int32Array of the wasm binaryConv's 21 arguments), with the
// weights at their offset in the native layout of that instruction set (nativeBinaryWeights):
// [ceil(cout / 8)][k][k][words][8 channels], on AVX2 [..][words][2 nibbles][8 channels].
void EngineBinaryConv(const Napi::CallbackInfo& info) {
  static const bool avx512 = supports(kAvx512), avx2 = supports(kAvx2);
  const int isa = info[0].As<Napi::Number>().Int32Value();
  Memory memory = memoryOf(info[1], "binaryConv");
  BinaryConvArgs args;
  std::memcpy(&args, int32s(info[2], 21, "binaryConv arguments"), sizeof args);
  if (isa == kAvx512 && avx512) {
    binaryConvolution<avx512::Kernels>(memory, args);
  } else if (isa == kAvx2 && avx2) {
    binaryConvolution<avx2::Kernels>(memory, args);
  } else {
    throw Napi::RangeError::New(info.Env(), "binaryConv: instruction set " + std::to_string(isa) +
                                                " is not one this CPU runs (see engineIsas)");
  }
}

// ---- Float layers on oneDNN ------------------------------------------------------------------

using Layout = dnnl::memory::desc;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The engine runs on one thread: oneDNN's OpenMP threads (also the training kernels', see
// setThreads) are 1 while an object of this type lives, and as they were after.
class OneThread {
 public:
  OneThread() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// A oneDNN primitive planned for one layer, with its constant arguments (weights, bias).
struct FloatStep {
  dnnl::primitive primitive;
  Layout input, out;
  std::unordered_map<int, dnnl::memory> constants;
};

// The type tag of FloatStep externals: engineRun reads no other External as one (say, another
// addon's).
constexpr napi_type_tag kFloatStepTag = {0x62697265616c2d65, 0x6e67696e652d7331};

Napi::Value wrap(Napi::Env env, FloatStep* step) {
  auto external =
      Napi::External<FloatStep>::New(env, step, [](Napi::Env, FloatStep* s) { delete s; });
  external.TypeTag(&kFloatStepTag);
  return external;
}

Layout image(int64_t h, int64_t w, int64_t c) { return {{1, c, h, w}, dt::f32, tag::nhwc}; }

const float* floatsOf(const Napi::Value& value, size_t count, const char* what) {
  if (!value.IsTypedArray() ||
      value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      value.As<Napi::Float32Array>().ElementLength() != count) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a Float32Array of " +
                                                std::to_string(count));
  }
  return value.As<Napi::Float32Array>().Data();
}

// engineConvPlan(Int32Array [h, w, cin, k, stride, cout, oh, ow, padTop, padLeft, padBottom,
// padRight], weights [k][k][cin][cout], bias [cout]): a float convolution, out = conv + bias.
Napi::Value EngineConvPlan(const Napi::CallbackInfo& info) {
  const int32_t* g = int32s(info[0], 12, "convPlan geometry");
  const int64_t h = g[0], w = g[1], cin = g[2], k = g[3], stride = g[4], cout = g[5];
  require(h > 0 && w > 0 && cin > 0 && k > 0 && stride > 0 && cout > 0, info.Env(),
          "convPlan: sizes must be positive");
  const float* weights =
      floatsOf(info[1], product(info.Env(), {k, k, cin, cout}, "convPlan weights"),
               "convPlan weights");
  const float* bias = floatsOf(info[2], cout, "convPlan bias");
  OneThread oneThread;  // oneDNN picks its kernel for the threads it will have
  dnnl::convolution_forward::desc conv(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, image(h, w, cin),
      Layout({cout, cin, k, k}, dt::f32, tag::any), Layout({cout}, dt::f32, tag::x),
      image(g[6], g[7], cout), {stride, stride}, {g[8], g[9]}, {g[10], g[11]});
  dnnl::convolution_forward::primitive_desc pd(conv, cpu());
  dnnl::memory given({{cout, cin, k, k}, dt::f32, tag::hwio}, cpu(), const_cast<float*>(weights));
  dnnl::memory reordered(pd.weights_desc(), cpu());
  dnnl::stream stream(cpu());
  dnnl::reorder(given, reordered).execute(stream, given, reordered);
  stream.wait();
  dnnl::memory biasCopy(pd.bias_desc(), cpu());
  std::copy_n(bias, cout, static_cast<float*>(biasCopy.get_data_handle()));
  const std::unordered_map<int, dnnl::memory> constants = {{DNNL_ARG_WEIGHTS, reordered},
                                                            {DNNL_ARG_BIAS, biasCopy}};
  return wrap(info.Env(), new FloatStep{dnnl::convolution_forward(pd), pd.src_desc(),
                                        pd.dst_desc(), constants});
}

// engineRun(step, memory, input, out): runs a planned float step on the engine's memory, input
// and out given as byte offsets.
void EngineRun(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal() ||
      !info[0].As<Napi::External<FloatStep>>().CheckTypeTag(&kFloatStepTag)) {
    throw Napi::TypeError::New(info.Env(), "run: not a planned step");
  }
  const FloatStep& step = *info[0].As<Napi::External<FloatStep>>().Data();
  const Memory memory = memoryOf(info[1], "run");
  const auto buffer = [&](int i, const Layout& layout, const char* what) {
    const int64_t offset = info[i].As<Napi::Number>().Int64Value();
    const int64_t floats = static_cast<int64_t>(layout.get_size() / sizeof(float));
    return dnnl::memory(layout, cpu(), memory.at<float>(offset, floats, what));
  };
  std::unordered_map<int, dnnl::memory> args = step.constants;
  args[DNNL_ARG_SRC] = buffer(2, step.input, "run input");
  args[DNNL_ARG_DST] = buffer(3, step.out, "run out");
  OneThread oneThread;
  thread_local dnnl::stream stream(cpu());
  step.primitive.execute(stream, args);
  stream.wait();
}

// ---- 1-bit convolutions of training -----------------------------------------------------------

// The rows (or columns) of a kernel's window inside the input, [first, end), at output row `o`.
std::pair<int, int> insideWindow(int o, int stride, int pad, int k, int size) {
  const int64_t first = int64_t{o} * stride - pad;
  return {static_cast<int>(std::max<int64_t>(0, -first)),
          static_cast<int>(std::min<int64_t>(k, size - first))};
}

// The distinct windows inside the input along one axis (`cases`), and the case of each output.
std::vector<int32_t> windowCases(int outputs, int stride, int pad, int k, int size,
                                 std::vector<std::pair<int, int>>& cases) {
  std::vector<int32_t> caseOf(outputs);
  for (int o = 0; o < outputs; o++) {
    const auto window = insideWindow(o, stride, pad, k, size);
    auto found = std::find(cases.begin(), cases.end(), window);
    caseOf[o] = static_cast<int32_t>(found - cases.begin());
    if (found == cases.end()) cases.push_back(window);
  }
  return caseOf;
}

// binaryConv2d(isa, Int32Array [n, h, w, cin, k, cout, oh, ow, stride, padTop, padLeft,
// padBottom, padRight], x, wb, y): y = conv2d(sign(x), wb) over NHWC x, zero padding, for 1-bit
// weights wb [k][k][cin][cout] of one magnitude per output channel (what every weight binarizer
// gives): the dot products of the signs counted by XOR and popcount, then times the magnitude.
// Identical to the float convolution of sign(x) (sign(0) = +1) with sign(wb), times |wb|: its
// sums are integers, exact in float32. Sign and packing in one pass; images on OpenMP threads.
void BinaryConv2d(const Napi::CallbackInfo& info) {
  static const bool avx512 = supports(kAvx512), avx2 = supports(kAvx2);
  const Napi::Env env = info.Env();
  const int isa = info[0].As<Napi::Number>().Int32Value();
  require((isa == kAvx512 && avx512) || (isa == kAvx2 && avx2), env,
          "binaryConv2d: instruction set " + std::to_string(isa) +
              " is not one this CPU runs (see engineIsas)");
  const int32_t* g = int32s(info[1], 13, "binaryConv2d shape");
  const int n = g[0], h = g[1], w = g[2], cin = g[3], k = g[4], cout = g[5], oh = g[6], ow = g[7],
            stride = g[8], padTop = g[9], padLeft = g[10], padBottom = g[11], padRight = g[12];
  require(n > 0 && h > 0 && w > 0 && cin > 0 && k > 0 && cout > 0 && oh > 0 && ow > 0 &&
              stride > 0,
          env, "binaryConv2d: sizes must be positive");
  const int border = std::max({padTop, padLeft, padBottom, padRight});
  require(std::min({padTop, padLeft, padBottom, padRight}) >= 0 && border < k, env,
          "binaryConv2d: paddings must be from 0 to k - 1");
  require(int64_t{oh - 1} * stride + k <= int64_t{h} + padTop + padBottom &&
              int64_t{ow - 1} * stride + k <= int64_t{w} + padLeft + padRight,
          env, "binaryConv2d: windows past the padding");
  const int64_t inputs = product(env, {h, w, cin}, "binaryConv2d x");
  const int64_t outputs = product(env, {oh, ow, cout}, "binaryConv2d y");
  const float* x =
      floatsOf(info[2], product(env, {n, inputs}, "binaryConv2d x"), "binaryConv2d x");
  const float* wb = floatsOf(info[3], product(env, {k, k, cin, cout}, "binaryConv2d wb"),
                             "binaryConv2d wb");
  float* y = const_cast<float*>(
      floatsOf(info[4], product(env, {n, outputs}, "binaryConv2d y"), "binaryConv2d y"));

  // The magnitude of each output channel (from the last row), the weights' signs packed, and the
  // negative weights of each tap and channel.
  const int64_t taps = int64_t{k} * k, words = (int64_t{cin} + 63) / 64;
  std::vector<float> scale(wb + taps * cin * cout - cout, wb + taps * cin * cout);
  for (float& s : scale) s = std::fabs(s);
  std::vector<int32_t> negatives(taps * cout, 0);
  const bool wide = isa == kAvx512;
  const int tapWords = wide ? avx512::kTapWords : avx2::kTapWords;
  const int64_t groups = (int64_t{cout} + 7) / 8, span = k * words;
  const int64_t groupWords = k * span * tapWords;
  require(groupWords <= INT32_MAX, env, "binaryConv2d: kernel too large");
  std::vector<uint64_t> weights(groups * groupWords);
  std::vector<uint64_t> packing(omp_get_max_threads() * 9 * groups);
  require(avx2::packWeightSigns(wb, taps, cin, cout, scale.data(), !wide, weights.data(),
                                negatives.data(), packing.data()),
          env, "binaryConv2d: wb must have one magnitude per output channel");
  // Dot bases: the taps inside the input plus twice the negative weights of those outside it
  // (where the zero border's bits count as mismatches), per row case, column case and channel.
  std::vector<std::pair<int, int>> rowCases, colCases;
  const std::vector<int32_t> rowCase = windowCases(oh, stride, padTop, k, h, rowCases);
  const std::vector<int32_t> colCase = windowCases(ow, stride, padLeft, k, w, colCases);
  std::vector<int32_t> bases(rowCases.size() * colCases.size() * cout);
  for (size_t r = 0; r < rowCases.size(); r++) {
    const auto [y0, y1] = rowCases[r];
    for (size_t c = 0; c < colCases.size(); c++) {
      const auto [x0, x1] = colCases[c];
      int32_t* base = bases.data() + (r * colCases.size() + c) * cout;
      for (int co = 0; co < cout; co++) base[co] = (y1 - y0) * (x1 - x0) * cin;
      for (int ky = 0; ky < k; ky++) {
        for (int kx = 0; kx < k; kx++) {
          if (ky >= y0 && ky < y1 && kx >= x0 && kx < x1) continue;
          for (int co = 0; co < cout; co++) base[co] += 2 * negatives[(ky * k + kx) * cout + co];
        }
      }
    }
  }
  const std::vector<float> bias(cout, 0.0f);
  const int64_t wp = int64_t{w} + 2 * border;
  const BinaryConv conv{weights.data(), groupWords, cout, k, static_cast<int>(span),
                        wp * words,     scale.data(), bias.data()};
  // Each thread's packed image (its border stays zero) and kernel scratch.
  const int threads = omp_get_max_threads();
  const int64_t imageWords = product(env, {int64_t{h} + 2 * border, wp, words}, "binaryConv2d");
  const int64_t scratchWords =
      wide ? avx512::Kernels::scratchWords(k * span) : avx2::Kernels::scratchWords(k * span);
  std::vector<uint64_t> memory(threads * (imageWords + scratchWords), 0);
  const OutputPixels first{nullptr, border - padTop, border - padLeft, wp, words, stride, oh, ow,
                           static_cast<int>(colCases.size()), rowCase.data(), colCase.data(),
                           bases.data(), nullptr, nullptr};
#pragma omp parallel for schedule(static)
  for (int image = 0; image < n; image++) {
    uint64_t* packed = memory.data() + omp_get_thread_num() * (imageWords + scratchWords);
    avx2::packSigns(x + image * inputs, h, w, cin, packed, border);
    OutputPixels at = first;
    at.input = packed;
    at.out = y + image * outputs;
    if (wide) {
      convolvePixels<avx512::Kernels>(conv, at, packed + imageWords);
    } else {
      convolvePixels<avx2::Kernels>(conv, at, packed + imageWords);
    }
  }
}

}  // namespace

void AddEngineKernels(Napi::Env env, Napi::Object exports) {
  using boundary::Export;
  Export<EngineIsas>(env, exports, "engineIsas");
  Export<EnginePackSigns>(env, exports, "enginePackSigns");
  Export<EnginePool>(env, exports, "enginePool");
  Export<EngineBinaryConv>(env, exports, "engineBinaryConv");
  Export<EngineConvPlan>(env, exports, "engineConvPlan");
  Export<EngineRun>(env, exports, "engineRun");
  Export<BinaryConv2d>(env, exports, "binaryConv2d");
}
