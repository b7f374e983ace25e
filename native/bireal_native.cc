// bireal's native CPU kernels for training on the tfjs wasm backend (src/backend/native.ts).
//
// Every function reads and writes float32 tensors where they live: the Float32Array arguments
// are views of the wasm heap (or any other memory), passed by pointer, never copied. The
// caller allocates every output before taking the views (allocation can move the wasm heap).
//
// - Convolutions (forward, backward data, backward weights) and batch normalization (training
//   forward with the batch statistics, backward) run on oneDNN, with activations in NHWC and
//   weights in tfjs' HWIO layout; oneDNN picks its kernels for the CPU at run time (AVX-512,
//   AVX2...) and runs them on its OpenMP threads. Primitives are created once per shape and
//   thread count and cached; weights are reordered to the layout the primitive prefers on every
//   call (they are small next to the activations), into memory shared by all plans.
// - The other steps of a layer-wise training step are loops, one pass over memory each, on
//   OpenMP threads where they are large: the sign and the estimators' gradients, the weight
//   binarizers and their gradients, the max/avg-pool gradients, Adam's update.
//
// Every export checks its sizes (integers, positive, below 2^31, products that do not
// overflow) before any arithmetic, and runs guarded (boundary.h): bad arguments give JavaScript
// errors, never a crash. Nothing throws or allocates inside an OpenMP region.
#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "boundary.h"
#include "engine.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using boundary::product;
using boundary::require;

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Streams and primitive caches are per thread (worker threads may each train a replica).
dnnl::stream& cpuStream() {
  thread_local dnnl::stream stream(cpuEngine());
  return stream;
}

float* floats(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a Float32Array");
  }
  return value.As<Napi::Float32Array>().Data();
}

size_t length(const Napi::Value& value) { return value.As<Napi::Float32Array>().ElementLength(); }

// A size: an integer from `least` (1, or 0 for a padding) to 2^31 - 1, or a RangeError naming it.
int64_t size(const Napi::Value& value, const std::string& what, int64_t least = 1) {
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  require(number >= least && number <= INT32_MAX && number == std::floor(number), value.Env(),
          what + " must be an integer from " + std::to_string(least) + " to 2^31 - 1, got " +
              value.ToString().Utf8Value());
  return static_cast<int64_t>(number);
}

// The sizes named `names`, in that order, from an array; paddings ("pad...") may be 0.
std::vector<int64_t> sizes(const Napi::Value& value, const std::vector<const char*>& names,
                           const std::string& what) {
  if (!value.IsArray() || value.As<Napi::Array>().Length() != names.size()) {
    throw Napi::TypeError::New(value.Env(),
                               what + " must be an array of " + std::to_string(names.size()));
  }
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> out(names.size());
  for (uint32_t i = 0; i < names.size(); i++) {
    const std::string name = names[i];
    out[i] = size(array.Get(i), what + " " + name, name.rfind("pad", 0) == 0 ? 0 : 1);
  }
  return out;
}

void expectLength(const Napi::Value& value, int64_t expected, const char* what) {
  if (static_cast<int64_t>(length(value)) != expected) {
    throw Napi::RangeError::New(value.Env(), std::string(what) + " has " +
                                                 std::to_string(length(value)) + " elements, expected " +
                                                 std::to_string(expected));
  }
}

// ---- Convolutions ---------------------------------------------------------------------------

// [n, h, w, cin, kh, kw, cout, oh, ow, strideH, strideW, padTop, padLeft, padBottom, padRight,
//  dilationH, dilationW]: the geometry of one NHWC convolution with an HWIO filter.
struct ConvShape {
  static inline const std::vector<const char*> kNames = {
      "n",       "h",       "w",       "cin",    "kh",      "kw",        "cout",     "oh",
      "ow",      "strideH", "strideW", "padTop", "padLeft", "padBottom", "padRight", "dilationH",
      "dilationW"};
  std::vector<int64_t> v;
  int64_t n() const { return v[0]; }
  int64_t h() const { return v[1]; }
  int64_t w() const { return v[2]; }
  int64_t cin() const { return v[3]; }
  int64_t kh() const { return v[4]; }
  int64_t kw() const { return v[5]; }
  int64_t cout() const { return v[6]; }
  int64_t oh() const { return v[7]; }
  int64_t ow() const { return v[8]; }
  memory::desc src() const { return {{n(), cin(), h(), w()}, dt::f32, tag::nhwc}; }
  memory::desc dst() const { return {{n(), cout(), oh(), ow()}, dt::f32, tag::nhwc}; }
  memory::desc userWeights() const { return {{cout(), cin(), kh(), kw()}, dt::f32, tag::hwio}; }
  memory::desc anyWeights() const { return {{cout(), cin(), kh(), kw()}, dt::f32, tag::any}; }
  memory::dims strides() const { return {v[9], v[10]}; }
  memory::dims padBefore() const { return {v[11], v[12]}; }
  memory::dims padAfter() const { return {v[13], v[14]}; }
  // oneDNN counts dilation from 0 (no dilation), tfjs from 1.
  memory::dims dilations() const { return {v[15] - 1, v[16] - 1}; }
  int64_t srcSize(const Napi::Env& env) const {
    return product(env, {n(), h(), w(), cin()}, "conv x");
  }
  int64_t dstSize(const Napi::Env& env) const {
    return product(env, {n(), oh(), ow(), cout()}, "conv y");
  }
  int64_t weightsSize(const Napi::Env& env) const {
    return product(env, {kh(), kw(), cin(), cout()}, "conv w");
  }
};

dnnl::convolution_forward::primitive_desc forwardHint(const ConvShape& s) {
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::convolution_direct, s.src(), s.anyWeights(),
                                       s.dst(), s.strides(), s.dilations(), s.padBefore(),
                                       s.padAfter());
  return {desc, cpuEngine()};
}

// One cached convolution: the primitive, and the reorder between tfjs' weights and its own.
struct ConvPlan {
  dnnl::primitive primitive;
  memory::desc weights;  // the primitive's weights (or diff weights) layout
  dnnl::reorder weightsReorder;
  bool reorderNeeded = false;
};

// Memory for the weights in a plan's layout, `bytes` of it: this thread's, shared by all its
// plans and grown to the largest. Every call reorders the weights anyway (they change every
// step), so a plan needs no copy of its own: with one, each batch size a layer ran at kept one
// more (28 MB for a 3x3x512x512 conv's three plans).
void* weightsScratch(size_t bytes) {
  thread_local memory scratch;
  thread_local size_t size = 0;
  if (size < bytes) {
    scratch = memory({{static_cast<int64_t>(bytes)}, dt::u8, tag::x}, cpuEngine());
    size = bytes;
  }
  return scratch.get_data_handle();
}

// The plan for `key` in `plans` (a cache of this thread), made by `make` when missing. oneDNN
// fixes a primitive's OpenMP threads when it creates it, so keys include the threads: a plan
// made at 1 thread (a replica's, or an evaluation's) would run on 1 ever after. Every batch
// size adds plans: past kMaxPlans the cache starts over (oneDNN's own primitive cache makes
// the plans again cheaply).
constexpr size_t kMaxPlans = 256;

template <class Key, class Plan, class Make>
Plan& cached(std::map<Key, Plan>& plans, const Key& key, Make make) {
  auto found = plans.find(key);
  if (found != plans.end()) return found->second;
  if (plans.size() >= kMaxPlans) plans.clear();
  return plans.emplace(key, make()).first->second;
}

enum class ConvKind { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

ConvPlan makePlan(ConvKind kind, const ConvShape& s) {
  ConvPlan plan;
  auto hint = forwardHint(s);
  if (kind == ConvKind::kForward) {
    plan.primitive = dnnl::convolution_forward(hint);
    plan.weights = hint.weights_desc();
  } else if (kind == ConvKind::kBackwardData) {
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, s.src(),
                                               s.anyWeights(), s.dst(), s.strides(), s.dilations(),
                                               s.padBefore(), s.padAfter());
    dnnl::convolution_backward_data::primitive_desc pd(desc, cpuEngine(), hint);
    plan.primitive = dnnl::convolution_backward_data(pd);
    plan.weights = pd.weights_desc();
  } else {
    dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, s.src(),
                                                  s.anyWeights(), s.dst(), s.strides(),
                                                  s.dilations(), s.padBefore(), s.padAfter());
    dnnl::convolution_backward_weights::primitive_desc pd(desc, cpuEngine(), hint);
    plan.primitive = dnnl::convolution_backward_weights(pd);
    plan.weights = pd.diff_weights_desc();
  }
  plan.reorderNeeded = plan.weights != s.userWeights();
  if (plan.reorderNeeded) {
    auto& engine = cpuEngine();
    plan.weightsReorder =
        kind == ConvKind::kBackwardWeights
            ? dnnl::reorder(dnnl::reorder::primitive_desc(engine, plan.weights, engine, s.userWeights()))
            : dnnl::reorder(dnnl::reorder::primitive_desc(engine, s.userWeights(), engine, plan.weights));
  }
  return plan;
}

// Runs one float32 convolution of `kind` (see Conv) on buffers whose sizes were checked.
void runConv(ConvKind kind, const ConvShape& s, float* x, float* w, float* y) {
  std::vector<int64_t> key = s.v;
  key.insert(key.end(), {static_cast<int64_t>(kind), omp_get_max_threads()});
  thread_local std::map<std::vector<int64_t>, ConvPlan> plans;
  const ConvPlan& plan = cached(plans, key, [&] { return makePlan(kind, s); });

  auto& engine = cpuEngine();
  auto& stream = cpuStream();
  memory src(s.src(), engine, x);
  memory dst(s.dst(), engine, y);
  memory user(s.userWeights(), engine, w);
  memory weights = plan.reorderNeeded
                       ? memory(plan.weights, engine, weightsScratch(plan.weights.get_size()))
                       : user;
  if (kind == ConvKind::kForward) {
    if (plan.reorderNeeded) plan.weightsReorder.execute(stream, user, weights);
    plan.primitive.execute(stream,
                           {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
  } else if (kind == ConvKind::kBackwardData) {
    if (plan.reorderNeeded) plan.weightsReorder.execute(stream, user, weights);
    plan.primitive.execute(
        stream, {{DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_SRC, src}});
  } else {
    plan.primitive.execute(
        stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_DIFF_WEIGHTS, weights}});
    if (plan.reorderNeeded) plan.weightsReorder.execute(stream, weights, user);
  }
  stream.wait();
}

// The kind of a conv call, or a RangeError.
ConvKind convKind(const Napi::Value& value, const char* what) {
  const int32_t kind = value.As<Napi::Number>().Int32Value();
  require(kind >= 0 && kind <= 2, value.Env(), std::string(what) + ": unknown kind");
  return static_cast<ConvKind>(kind);
}

// conv(kind, shape[17], x, w, y): kind 0 computes y from x and w; 1 computes x (dx) from y (dy)
// and w; 2 computes w (dw) from x and y (dy). Every buffer is a Float32Array, outputs included.
void Conv(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const ConvKind kind = convKind(info[0], "conv");
  ConvShape s{sizes(info[1], ConvShape::kNames, "conv shape")};
  float* x = floats(info[2], "conv x");
  float* w = floats(info[3], "conv w");
  float* y = floats(info[4], "conv y");
  expectLength(info[2], s.srcSize(env), "conv x");
  expectLength(info[3], s.weightsSize(env), "conv w");
  expectLength(info[4], s.dstSize(env), "conv y");
  runConv(kind, s, x, w, y);
}

std::string isaName(dnnl::cpu_isa isa);

// ---- The backward pass of a 1-bit convolution -----------------------------------------------
//
// A 1-bit conv's backward pass multiplies dy by ±1 values: dx = dy (*) wb, where wb is a sign
// times one magnitude per output channel, and dW = sign(x) (*) dy. A ±1 is exact in bfloat16,
// and so is dy once split into three bfloat16 parts, dy = hi + mid + lo (8 significant bits
// each, float32's 24 in all; each remainder is exact in float32). Each product is then exact
// and the sums run in float32: the same result as a float32 convolution up to the order of the
// additions, on AMX's bfloat16 tiles (at peak 16 times the multiplications of AVX-512's FMAs).
// The three parts go in as 3 * cout channels of one convolution (dy's for dW, ±1 weights
// repeated for dx), so that one oneDNN call sums them (dx) or three weight blocks are added (dW).

using bf16 = uint16_t;

constexpr bf16 kBf16PlusOne = 0x3f80, kBf16MinusOne = 0xbf80;

#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512vl,avx512bw,avx512dq")

// v rounded to bfloat16 (to nearest, ties to even), as float32 bits.
inline uint32_t roundToBf16(uint32_t v) { return (v + 0x7fffu + ((v >> 16) & 1u)) & 0xffff0000u; }

inline uint32_t bitsOf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

inline float floatOf(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Splits dy [pixels, cout] (times alpha per channel where given) into parts [pixels, 3 * cout]:
// per pixel hi, mid and lo for every channel, hi + mid + lo == the value exactly (a non-finite
// value gives non-finite parts). Vectorised for AVX-512, which every AMX CPU has.
void splitBf16(const float* dy, const float* alpha, int64_t pixels, int64_t cout, bf16* parts) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; p++) {
    const float* row = &dy[p * cout];
    bf16* out = &parts[p * 3 * cout];
#pragma omp simd
    for (int64_t o = 0; o < cout; o++) {
      const float v = alpha == nullptr ? row[o] : row[o] * alpha[o];
      const uint32_t hi = roundToBf16(bitsOf(v));
      const float rest = v - floatOf(hi);
      const uint32_t mid = roundToBf16(bitsOf(rest));
      out[o] = static_cast<bf16>(hi >> 16);
      out[cout + o] = static_cast<bf16>(mid >> 16);
      out[2 * cout + o] = static_cast<bf16>(bitsOf(rest - floatOf(mid)) >> 16);
    }
  }
}

// The signs of x as bfloat16 ±1 (sign(0) = +1).
void signsBf16(const float* x, int64_t count, bf16* signs) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; i++) signs[i] = x[i] >= 0 ? kBf16PlusOne : kBf16MinusOne;
}

#pragma GCC pop_options

// How a 1-bit conv's backward pass runs: 0 chooses (split bfloat16 where oneDNN runs AMX and
// the shape pays, see splitPays), 1 float32 always, 2 split bfloat16 always (where oneDNN can).
enum class BinaryRoute { kAuto = 0, kFloat32 = 1, kSplitBf16 = 2 };

bool amx() { return dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx; }

// The split needs AVX-512 (its loops, and oneDNN's bfloat16 convolutions).
bool avx512() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core:
    case dnnl::cpu_isa::avx512_core_vnni:
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_amx: return true;
    default: return false;
  }
}

// Measured with oneDNN 2.6.3 on a Sapphire Rapids core pair, Bi-Real-18's 1-bit convs at batch
// 32, 128 and 224 px (results/bench/training-step-2026-12-08.md): the split beats float32 by up
// to 2x where the maps are large (dx at stride 1 from 8x8 outputs; dW from 14x14 at stride 1 and
// 28x28 at stride 2), and loses on small maps of many channels, where oneDNN's AMX kernels are
// slow and the weights' three copies cost most.
bool splitPays(ConvKind kind, const ConvShape& s) {
  const int64_t pixels = s.oh() * s.ow();
  const bool stride1 = s.v[9] == 1 && s.v[10] == 1;
  if (!amx()) return false;
  if (kind == ConvKind::kBackwardData) return stride1 && pixels >= 64;
  return pixels >= (stride1 ? 196 : 784);
}

// A cached split-bfloat16 convolution: 3 * cout channels of bfloat16 dy; dx in float32 from
// bfloat16 ±1 weights, or float32 weight gradients (3 * cout blocks) from bfloat16 signs of x.
// At stride 1 (no dilation) dx is a forward convolution of dy with the weights flipped in space
// and transposed (cin outputs from 3 * cout inputs), padded by k - 1 - the conv's padding:
// oneDNN's AMX forward convolutions (brgconv) are faster than its backward-data ones.
struct SplitPlan {
  dnnl::primitive primitive;
  bool transposed = false;  // dx as the forward convolution above
  memory::desc src, dst;
  memory::desc weights;      // the primitive's (diff) weights layout
  memory::desc userWeights;  // HWIO
  dnnl::reorder weightsReorder;
};

SplitPlan makeSplitPlan(ConvKind kind, const ConvShape& s) {
  const bool data = kind == ConvKind::kBackwardData;
  const memory::dims srcDims{s.n(), s.cin(), s.h(), s.w()};
  const memory::dims weightDims{3 * s.cout(), s.cin(), s.kh(), s.kw()};
  SplitPlan plan;
  plan.src = memory::desc(srcDims, data ? dt::f32 : dt::bf16, tag::nhwc);
  plan.dst = memory::desc({s.n(), 3 * s.cout(), s.oh(), s.ow()}, dt::bf16, tag::nhwc);
  plan.userWeights = memory::desc(weightDims, data ? dt::bf16 : dt::f32, tag::hwio);
  const memory::desc anyWeights(weightDims, data ? dt::bf16 : dt::f32, tag::any);
  auto& engine = cpuEngine();
  dnnl::convolution_forward::primitive_desc hint(
      dnnl::convolution_forward::desc(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
          memory::desc(srcDims, dt::bf16, tag::nhwc), memory::desc(weightDims, dt::bf16, tag::any),
          plan.dst, s.strides(), s.dilations(), s.padBefore(), s.padAfter()),
      engine);
  const bool stride1 = s.v[9] == 1 && s.v[10] == 1 && s.v[15] == 1 && s.v[16] == 1;
  if (data && stride1) {
    const memory::dims flippedDims{s.cin(), 3 * s.cout(), s.kh(), s.kw()};
    plan.transposed = true;
    // The same buffer as HWIO with 3 * cout outputs (see splitBackwardData), read transposed.
    const int64_t tapStride = s.cin() * 3 * s.cout();
    plan.userWeights =
        memory::desc(flippedDims, dt::bf16, {3 * s.cout(), 1, s.kw() * tapStride, tapStride});
    const memory::dims before{s.kh() - 1 - s.v[11], s.kw() - 1 - s.v[12]};
    const memory::dims after{s.kh() - 1 - s.v[13], s.kw() - 1 - s.v[14]};
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, plan.dst,
                                        memory::desc(flippedDims, dt::bf16, tag::any), plan.src,
                                        s.strides(), before, after),
        engine);
    plan.primitive = dnnl::convolution_forward(pd);
    plan.weights = pd.weights_desc();
    plan.weightsReorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(engine, plan.userWeights, engine, plan.weights));
  } else if (data) {
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, plan.src,
                                              anyWeights, plan.dst, s.strides(), s.dilations(),
                                              s.padBefore(), s.padAfter()),
        engine, hint);
    plan.primitive = dnnl::convolution_backward_data(pd);
    plan.weights = pd.weights_desc();
    plan.weightsReorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(engine, plan.userWeights, engine, plan.weights));
  } else {
    dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, plan.src,
                                                 anyWeights, plan.dst, s.strides(), s.dilations(),
                                                 s.padBefore(), s.padAfter()),
        engine, hint);
    plan.primitive = dnnl::convolution_backward_weights(pd);
    plan.weights = pd.diff_weights_desc();
    plan.weightsReorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(engine, plan.weights, engine, plan.userWeights));
  }
  return plan;
}

const SplitPlan& splitPlan(ConvKind kind, const ConvShape& s) {
  thread_local std::map<std::vector<int64_t>, SplitPlan> plans;
  std::vector<int64_t> key = s.v;
  key.insert(key.end(), {static_cast<int64_t>(kind), omp_get_max_threads()});
  return cached(plans, key, [&] { return makeSplitPlan(kind, s); });
}

// This thread's buffer of at least `count` T, grown to the largest asked for (by `slot`, so
// that one call can hold several).
template <class T, int slot>
T* scratch(int64_t count) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(count);
  return buffer.data();
}

// Each output channel's magnitude |wb| in alpha, or false where a channel holds two magnitudes
// (not a binarizer's output).
bool channelMagnitudes(const float* wb, int64_t taps, int64_t cout, float* alpha) {
  for (int64_t o = 0; o < cout; o++) alpha[o] = std::fabs(wb[o]);
  for (int64_t t = 0; t < taps; t++) {
    for (int64_t o = 0; o < cout; o++) {
      if (std::fabs(wb[t * cout + o]) != alpha[o]) return false;
    }
  }
  return true;
}

// dx = dy (*) wb by split bfloat16; false (nothing written) where wb is not ±alpha per channel.
bool splitBackwardData(const ConvShape& s, const float* dy, const float* wb, float* dx) {
  const int64_t cout = s.cout(), taps = s.kh() * s.kw() * s.cin();
  float* alpha = scratch<float, 0>(cout);
  if (!channelMagnitudes(wb, taps, cout, alpha)) return false;
  const SplitPlan& plan = splitPlan(ConvKind::kBackwardData, s);
  bf16* parts = scratch<bf16, 1>(s.n() * s.oh() * s.ow() * 3 * cout);
  bf16* signs = scratch<bf16, 2>(taps * 3 * cout);
  splitBf16(dy, alpha, s.n() * s.oh() * s.ow(), cout, parts);
  // The ±1 weights as HWIO with 3 * cout outputs (the three parts): flipped in space for the
  // transposed plan, whose weights desc reads them transposed.
  // Flipping both spatial axes reverses the order of the taps.
  const int64_t cin = s.cin(), kernelTaps = s.kh() * s.kw();
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < taps; row++) {
    const int64_t tap = row / cin, c = row % cin;
    const int64_t to = (plan.transposed ? kernelTaps - 1 - tap : tap) * cin + c;
    for (int64_t part = 0; part < 3; part++) {
      for (int64_t o = 0; o < cout; o++) {
        signs[(to * 3 + part) * cout + o] = wb[row * cout + o] < 0 ? kBf16MinusOne : kBf16PlusOne;
      }
    }
  }
  auto& engine = cpuEngine();
  auto& stream = cpuStream();
  memory user(plan.userWeights, engine, signs);
  memory weights(plan.weights, engine, weightsScratch(plan.weights.get_size()));
  plan.weightsReorder.execute(stream, user, weights);
  memory partsMemory(plan.dst, engine, parts), dxMemory(plan.src, engine, dx);
  if (plan.transposed) {
    plan.primitive.execute(stream, {{DNNL_ARG_SRC, partsMemory},
                                    {DNNL_ARG_WEIGHTS, weights},
                                    {DNNL_ARG_DST, dxMemory}});
  } else {
    plan.primitive.execute(stream, {{DNNL_ARG_DIFF_DST, partsMemory},
                                    {DNNL_ARG_WEIGHTS, weights},
                                    {DNNL_ARG_DIFF_SRC, dxMemory}});
  }
  stream.wait();
  return true;
}

// dW = sign(x) (*) dy by split bfloat16.
void splitBackwardWeights(const ConvShape& s, const float* x, const float* dy, float* dw) {
  const int64_t cout = s.cout(), taps = s.kh() * s.kw() * s.cin();
  const int64_t inputs = s.n() * s.h() * s.w() * s.cin(), pixels = s.n() * s.oh() * s.ow();
  const SplitPlan& plan = splitPlan(ConvKind::kBackwardWeights, s);
  bf16* signs = scratch<bf16, 1>(inputs);
  bf16* parts = scratch<bf16, 2>(pixels * 3 * cout);
  float* blocks = scratch<float, 0>(taps * 3 * cout);
  signsBf16(x, inputs, signs);
  splitBf16(dy, nullptr, pixels, cout, parts);
  auto& engine = cpuEngine();
  auto& stream = cpuStream();
  memory weights(plan.weights, engine, weightsScratch(plan.weights.get_size()));
  plan.primitive.execute(stream, {{DNNL_ARG_SRC, memory(plan.src, engine, signs)},
                                  {DNNL_ARG_DIFF_DST, memory(plan.dst, engine, parts)},
                                  {DNNL_ARG_DIFF_WEIGHTS, weights}});
  memory user(plan.userWeights, engine, blocks);
  plan.weightsReorder.execute(stream, weights, user);
  stream.wait();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < taps; t++) {
    const float* block = &blocks[t * 3 * cout];
    for (int64_t o = 0; o < cout; o++) {
      dw[t * cout + o] = (block[o] + block[cout + o]) + block[2 * cout + o];
    }
  }
}

// binaryConvGradient(kind, route, shape[17], x, w, y): the backward pass of a 1-bit conv. Kind 1
// computes dx (into x) from dy (y) and wb (w: a binarizer's output, ±alpha per output channel);
// kind 2 computes dW with respect to wb (into w) from x (its signs are taken here, sign(0) = +1)
// and dy (y). Route: see BinaryRoute.
void BinaryConvGradient(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const ConvKind kind = convKind(info[0], "binaryConvGradient");
  require(kind != ConvKind::kForward, env, "binaryConvGradient: kind must be 1 (dx) or 2 (dW)");
  const int32_t routeValue = info[1].As<Napi::Number>().Int32Value();
  require(routeValue >= 0 && routeValue <= 2, env, "binaryConvGradient: unknown route");
  const auto route = static_cast<BinaryRoute>(routeValue);
  ConvShape s{sizes(info[2], ConvShape::kNames, "binaryConvGradient shape")};
  float* x = floats(info[3], "binaryConvGradient x");
  float* w = floats(info[4], "binaryConvGradient w");
  float* y = floats(info[5], "binaryConvGradient y");
  expectLength(info[3], s.srcSize(env), "binaryConvGradient x");
  expectLength(info[4], s.weightsSize(env), "binaryConvGradient w");
  expectLength(info[5], s.dstSize(env), "binaryConvGradient y");
  require(route != BinaryRoute::kSplitBf16 || avx512(), env,
          "BIREAL_BINARY_BACKWARD=split-bf16 needs oneDNN's AVX-512 kernels; they run " +
              isaName(dnnl::get_effective_cpu_isa()) + " here");
  const bool split = route == BinaryRoute::kSplitBf16 ||
                     (route == BinaryRoute::kAuto && splitPays(kind, s));
  if (kind == ConvKind::kBackwardData) {
    if (!split || !splitBackwardData(s, y, w, x)) runConv(kind, s, x, w, y);
  } else if (split) {
    splitBackwardWeights(s, x, y, w);
  } else {
    const int64_t inputs = s.srcSize(env);
    float* signs = scratch<float, 0>(inputs);
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < inputs; i++) signs[i] = x[i] >= 0 ? 1.0f : -1.0f;
    runConv(kind, s, signs, w, y);
  }
}

// ---- Batch normalization --------------------------------------------------------------------

// A cached batch-norm pair, by [rows (n*h*w), channels], epsilon and threads.
struct BatchNormPlan {
  dnnl::batch_normalization_forward forward;
  dnnl::batch_normalization_backward backward;
  memory::desc statistics;  // mean and variance, as the primitives want them
  memory::desc scale;       // gamma, beta and their gradients
};

memory::desc rowsByChannels(int64_t rows, int64_t channels) {
  // NHWC seen as [rows, channels, 1, 1]: the statistics are per channel over all rows.
  return {{rows, channels, 1, 1}, dt::f32, tag::nhwc};
}

BatchNormPlan makeBatchNormPlan(int64_t rows, int64_t channels, float epsilon) {
  auto data = rowsByChannels(rows, channels);
  auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc forwardDesc(dnnl::prop_kind::forward_training, data,
                                                      epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc forwardPd(forwardDesc, cpuEngine());
  dnnl::batch_normalization_backward::desc backwardDesc(dnnl::prop_kind::backward, data, data,
                                                        epsilon, flags);
  dnnl::batch_normalization_backward::primitive_desc backwardPd(backwardDesc, cpuEngine(),
                                                                forwardPd);
  return {dnnl::batch_normalization_forward(forwardPd),
          dnnl::batch_normalization_backward(backwardPd), forwardPd.mean_desc(),
          forwardPd.weights_desc()};
}

// Epsilon, a key of the plans: NaN would break the map's ordering.
float batchNormEpsilon(const Napi::Value& value) {
  const float epsilon = value.As<Napi::Number>().FloatValue();
  require(epsilon >= 0 && std::isfinite(epsilon), value.Env(),
          "batchNorm epsilon must be a finite number >= 0");
  return epsilon;
}

BatchNormPlan& batchNormPlan(int64_t rows, int64_t channels, float epsilon) {
  thread_local std::map<std::tuple<int64_t, int64_t, float, int>, BatchNormPlan> plans;
  auto key = std::make_tuple(rows, channels, epsilon, omp_get_max_threads());
  return cached(plans, key, [&] { return makeBatchNormPlan(rows, channels, epsilon); });
}

// batchNormForward(rows, channels, epsilon, x, gamma, beta, y, mean, variance): training-mode
// batch normalization of x [rows, channels] with the batch's mean and (biased) variance, which
// are written out.
void BatchNormForward(const Napi::CallbackInfo& info) {
  const int64_t rows = size(info[0], "batchNorm rows");
  const int64_t channels = size(info[1], "batchNorm channels");
  const float epsilon = batchNormEpsilon(info[2]);
  const int64_t elements = product(info.Env(), {rows, channels}, "batchNorm x");
  expectLength(info[3], elements, "batchNorm x");
  expectLength(info[6], elements, "batchNorm y");
  for (int i : {4, 5, 7, 8}) expectLength(info[i], channels, "batchNorm per-channel vector");
  auto& plan = batchNormPlan(rows, channels, epsilon);
  auto data = rowsByChannels(rows, channels);
  auto& engine = cpuEngine();
  plan.forward.execute(cpuStream(),
                       {{DNNL_ARG_SRC, memory(data, engine, floats(info[3], "x"))},
                        {DNNL_ARG_SCALE, memory(plan.scale, engine, floats(info[4], "gamma"))},
                        {DNNL_ARG_SHIFT, memory(plan.scale, engine, floats(info[5], "beta"))},
                        {DNNL_ARG_DST, memory(data, engine, floats(info[6], "y"))},
                        {DNNL_ARG_MEAN, memory(plan.statistics, engine, floats(info[7], "mean"))},
                        {DNNL_ARG_VARIANCE, memory(plan.statistics, engine, floats(info[8], "variance"))}});
  cpuStream().wait();
}

// batchNormBackward(rows, channels, epsilon, x, dy, gamma, mean, variance, dx, dGamma, dBeta).
void BatchNormBackward(const Napi::CallbackInfo& info) {
  const int64_t rows = size(info[0], "batchNorm rows");
  const int64_t channels = size(info[1], "batchNorm channels");
  const float epsilon = batchNormEpsilon(info[2]);
  const int64_t elements = product(info.Env(), {rows, channels}, "batchNorm x");
  for (int i : {3, 4, 8}) expectLength(info[i], elements, "batchNorm activation");
  for (int i : {5, 6, 7, 9, 10}) expectLength(info[i], channels, "batchNorm per-channel vector");
  auto& plan = batchNormPlan(rows, channels, epsilon);
  auto data = rowsByChannels(rows, channels);
  auto& engine = cpuEngine();
  memory gamma(plan.scale, engine, floats(info[5], "gamma"));
  plan.backward.execute(
      cpuStream(), {{DNNL_ARG_SRC, memory(data, engine, floats(info[3], "x"))},
                    {DNNL_ARG_DIFF_DST, memory(data, engine, floats(info[4], "dy"))},
                    {DNNL_ARG_SCALE, gamma},
                    // oneDNN 2.6 checks that a shift is passed, though the backward pass does
                    // not read it.
                    {DNNL_ARG_SHIFT, gamma},
                    {DNNL_ARG_MEAN, memory(plan.statistics, engine, floats(info[6], "mean"))},
                    {DNNL_ARG_VARIANCE, memory(plan.statistics, engine, floats(info[7], "variance"))},
                    {DNNL_ARG_DIFF_SRC, memory(data, engine, floats(info[8], "dx"))},
                    {DNNL_ARG_DIFF_SCALE, memory(plan.scale, engine, floats(info[9], "dGamma"))},
                    {DNNL_ARG_DIFF_SHIFT, memory(plan.scale, engine, floats(info[10], "dBeta"))}});
  cpuStream().wait();
}

// ---- Element-wise steps of the 1-bit layers -------------------------------------------------

// sign(x, out): +1 where x >= 0 (sign(0) = +1, as everywhere in bireal), -1 elsewhere.
void Sign(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0], "sign x");
  float* out = floats(info[1], "sign out");
  int64_t n = static_cast<int64_t>(length(info[0]));
  expectLength(info[1], n, "sign out");
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = x[i] < 0.0f ? -1.0f : 1.0f;
}

// estimatorGradient(estimator, dy, x, dx): dx = dy * the estimator's derivative at x, where
// estimator 0 is the STE (1), 1 the clipped STE (1{|x| <= 1}), 2 ApproxSign (max(0, 2 - 2|x|)).
void EstimatorGradient(const Napi::CallbackInfo& info) {
  int estimator = info[0].As<Napi::Number>().Int32Value();
  const float* dy = floats(info[1], "estimator dy");
  const float* x = floats(info[2], "estimator x");
  float* dx = floats(info[3], "estimator dx");
  int64_t n = static_cast<int64_t>(length(info[1]));
  expectLength(info[2], n, "estimator x");
  expectLength(info[3], n, "estimator dx");
  if (estimator == 0) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i];
  } else if (estimator == 1) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
      const float g = dy[i];  // loaded either way, so that the select vectorizes
      dx[i] = std::fabs(x[i]) <= 1.0f ? g : 0.0f;
    }
  } else if (estimator == 2) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * std::fmax(0.0f, 2.0f - 2.0f * std::fabs(x[i]));
  } else {
    throw Napi::RangeError::New(info.Env(), "estimatorGradient: unknown estimator");
  }
}

// ---- Weight binarization of the 1-bit convs ---------------------------------------------------

// The weights [KH, KW, Cin, Cout] as rows (KH*KW*Cin) by columns (Cout), with the mean |w| of
// each column (output channel): the scale of the scaled and magnitude-aware binarizers.
std::vector<float> columnMeanAbs(const float* w, int64_t rows, int64_t columns) {
  std::vector<float> scale(columns, 0.0f);
  float* sums = scale.data();
  // Each thread sums its own range of columns, every column over the rows in order.
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    const int64_t first = columns * thread / threads, last = columns * (thread + 1) / threads;
    for (int64_t r = 0; r < rows; r++) {
      const float* row = w + r * columns;
      for (int64_t c = first; c < last; c++) sums[c] += std::fabs(row[c]);
    }
  }
  for (auto& s : scale) s /= static_cast<float>(rows);
  return scale;
}

// The columns of the weights (`w`, of n elements): a size that divides n.
int64_t columnsOf(const Napi::Value& value, int64_t n, const std::string& what) {
  const int64_t columns = size(value, what + " columns");
  require(n % columns == 0, value.Env(),
          what + " columns (" + std::to_string(columns) + ") must divide the " +
              std::to_string(n) + " weights");
  return columns;
}

// binarizeWeight(scaled, columns, w, wb): wb = sign(w), times each output channel's mean |w|
// when scaled is true.
void BinarizeWeight(const Napi::CallbackInfo& info) {
  bool scaled = info[0].As<Napi::Boolean>().Value();
  const float* w = floats(info[2], "binarizeWeight w");
  float* wb = floats(info[3], "binarizeWeight wb");
  int64_t n = static_cast<int64_t>(length(info[2]));
  expectLength(info[3], n, "binarizeWeight wb");
  int64_t columns = columnsOf(info[1], n, "binarizeWeight");
  int64_t rows = n / columns;
  std::vector<float> scale = scaled ? columnMeanAbs(w, rows, columns) : std::vector<float>(columns, 1.0f);
  const float* s = scale.data();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < columns; c++) {
      int64_t i = r * columns + c;
      wb[i] = w[i] < 0.0f ? -s[c] : s[c];
    }
  }
}

// weightGradient(magnitudeAware, columns, dWb, w, dW): the gradient through the binarizer:
// dWb * mean|w| * 1{|w| < 1} (the paper's magnitude-aware gradient) or dWb * 1{|w| <= 1}.
void WeightGradient(const Napi::CallbackInfo& info) {
  bool magnitudeAware = info[0].As<Napi::Boolean>().Value();
  const float* dWb = floats(info[2], "weightGradient dWb");
  const float* w = floats(info[3], "weightGradient w");
  float* dW = floats(info[4], "weightGradient dW");
  int64_t n = static_cast<int64_t>(length(info[2]));
  expectLength(info[3], n, "weightGradient w");
  expectLength(info[4], n, "weightGradient dW");
  int64_t columns = columnsOf(info[1], n, "weightGradient");
  int64_t rows = n / columns;
  if (magnitudeAware) {
    std::vector<float> scale = columnMeanAbs(w, rows, columns);
    const float* s = scale.data();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      for (int64_t c = 0; c < columns; c++) {
        int64_t i = r * columns + c;
        const float g = dWb[i] * s[c];  // computed either way, so that the select vectorizes
        dW[i] = std::fabs(w[i]) < 1.0f ? g : 0.0f;
      }
    }
  } else {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
      const float g = dWb[i];
      dW[i] = std::fabs(w[i]) <= 1.0f ? g : 0.0f;
    }
  }
}

// ---- Pooling gradients ------------------------------------------------------------------------

// [n, h, w, c, oh, ow, kh, kw, strideH, strideW, padTop, padLeft]: one NHWC pooling.
struct PoolShape {
  static inline const std::vector<const char*> kNames = {
      "n", "h", "w", "c", "oh", "ow", "kh", "kw", "strideH", "strideW", "padTop", "padLeft"};
  std::vector<int64_t> v;
  int64_t n() const { return v[0]; }
  int64_t h() const { return v[1]; }
  int64_t w() const { return v[2]; }
  int64_t c() const { return v[3]; }
  int64_t oh() const { return v[4]; }
  int64_t ow() const { return v[5]; }
  int64_t inputSize(const Napi::Env& env) const {
    return product(env, {n(), h(), w(), c()}, "pool x");
  }
  int64_t outputSize(const Napi::Env& env) const {
    return product(env, {n(), oh(), ow(), c()}, "pool dy");
  }
};

// maxPoolGrad(shape[12], dy, x, dx): each output's gradient goes to the first maximal input of
// its window (row-major order, padding excluded), as tfjs' cpu backend and TensorFlow do.
void MaxPoolGrad(const Napi::CallbackInfo& info) {
  PoolShape s{sizes(info[0], PoolShape::kNames, "maxPoolGrad shape")};
  const float* dy = floats(info[1], "maxPoolGrad dy");
  const float* x = floats(info[2], "maxPoolGrad x");
  float* dx = floats(info[3], "maxPoolGrad dx");
  expectLength(info[1], s.outputSize(info.Env()), "maxPoolGrad dy");
  expectLength(info[2], s.inputSize(info.Env()), "maxPoolGrad x");
  expectLength(info[3], s.inputSize(info.Env()), "maxPoolGrad dx");
  require(s.h() * s.w() <= INT32_MAX, info.Env(), "maxPoolGrad: h * w must be below 2^31");
  const int64_t kh = s.v[6], kw = s.v[7], sh = s.v[8], sw = s.v[9], top = s.v[10], left = s.v[11];
  const int64_t h = s.h(), w = s.w(), c = s.c(), oh = s.oh(), ow = s.ow();
  // Per thread, per channel: the best value so far and the pixel (r * w + q) it came from,
  // allocated before the parallel region (an exception inside one would end the process).
  std::vector<float> bestValues(omp_get_max_threads() * c);
  std::vector<int32_t> bestPixels(omp_get_max_threads() * c);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < s.n(); b++) {
    const float* xb = x + b * h * w * c;
    float* dxb = dx + b * h * w * c;
    std::fill(dxb, dxb + h * w * c, 0.0f);
    float* __restrict value = bestValues.data() + omp_get_thread_num() * c;
    int32_t* __restrict pixel = bestPixels.data() + omp_get_thread_num() * c;
    for (int64_t i = 0; i < oh; i++) {
      for (int64_t j = 0; j < ow; j++) {
        bool first = true;
        for (int64_t u = 0; u < kh; u++) {
          int64_t r = i * sh + u - top;
          if (r < 0 || r >= h) continue;
          for (int64_t t = 0; t < kw; t++) {
            int64_t q = j * sw + t - left;
            if (q < 0 || q >= w) continue;
            const int32_t here = static_cast<int32_t>(r * w + q);
            const float* __restrict px = xb + here * c;
            if (first) {
              std::copy(px, px + c, value);
              std::fill(pixel, pixel + c, here);
              first = false;
              continue;
            }
            // Branch-free: both sides loaded, then selected, so that it vectorizes.
            for (int64_t k = 0; k < c; k++) {
              const float candidate = px[k], best = value[k];
              const int32_t better = -static_cast<int32_t>(candidate > best);  // all ones or 0
              value[k] = std::max(best, candidate);
              pixel[k] = (here & better) | (pixel[k] & ~better);
            }
          }
        }
        if (first) continue;  // a window entirely in the padding
        const float* g = dy + ((b * oh + i) * ow + j) * c;
        for (int64_t k = 0; k < c; k++) dxb[pixel[k] * c + k] += g[k];
      }
    }
  }
}

// avgPoolGrad(shape[12], dy, dx): each output's gradient spread evenly over the cells of its
// window inside the input, divided by their number, as the forward average divides (tfjs' own
// kernels divide by the window's full size, padding included: too little where a window is cut).
void AvgPoolGrad(const Napi::CallbackInfo& info) {
  PoolShape s{sizes(info[0], PoolShape::kNames, "avgPoolGrad shape")};
  const float* dy = floats(info[1], "avgPoolGrad dy");
  float* dx = floats(info[2], "avgPoolGrad dx");
  expectLength(info[1], s.outputSize(info.Env()), "avgPoolGrad dy");
  expectLength(info[2], s.inputSize(info.Env()), "avgPoolGrad dx");
  const int64_t kh = s.v[6], kw = s.v[7], sh = s.v[8], sw = s.v[9], top = s.v[10], left = s.v[11];
  const int64_t h = s.h(), w = s.w(), c = s.c(), oh = s.oh(), ow = s.ow();
  // The cells of a window inside the input along one axis, from its first one.
  const auto inside = [](int64_t first, int64_t k, int64_t size) {
    return std::min(first + k, size) - std::max<int64_t>(first, 0);
  };
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < s.n(); b++) {
    float* dxb = dx + b * h * w * c;
    std::fill(dxb, dxb + h * w * c, 0.0f);
    for (int64_t i = 0; i < oh; i++) {
      for (int64_t j = 0; j < ow; j++) {
        const float* g = dy + ((b * oh + i) * ow + j) * c;
        const float scale = 1.0f / static_cast<float>(inside(i * sh - top, kh, h) *
                                                      inside(j * sw - left, kw, w));
        for (int64_t u = 0; u < kh; u++) {
          int64_t r = i * sh + u - top;
          if (r < 0 || r >= h) continue;
          for (int64_t t = 0; t < kw; t++) {
            int64_t q = j * sw + t - left;
            if (q < 0 || q >= w) continue;
            float* px = dxb + (r * w + q) * c;
            for (int64_t k = 0; k < c; k++) px[k] += g[k] * scale;
          }
        }
      }
    }
  }
}

// ---- Sums ----------------------------------------------------------------------------------------

// add(out, x0, x1, ...): out = x0 + x1 + ..., element-wise in that order (tfjs' Add and AddN of
// same-shape tensors, with the same float results), on the OpenMP threads: the residual sums of
// the forward pass and the gradients' sums of the backward pass, one pass over memory each.
void Add(const Napi::CallbackInfo& info) {
  require(info.Length() >= 3, info.Env(), "add: needs out and at least 2 inputs");
  float* out = floats(info[0], "add out");
  const int64_t n = static_cast<int64_t>(length(info[0]));
  std::vector<const float*> inputs;
  for (size_t k = 1; k < info.Length(); k++) {
    expectLength(info[k], n, "add input");
    inputs.push_back(floats(info[k], "add input"));
  }
  const float* const* x = inputs.data();
  const int64_t count = static_cast<int64_t>(inputs.size());
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; i++) {
    float sum = x[0][i];
    for (int64_t k = 1; k < count; k++) sum += x[k][i];
    out[i] = sum;
  }
}

// ---- Optimizer ---------------------------------------------------------------------------------

// adam(hyper[6], value, m, v, g, newValue, newM, newV): one step of tfjs' Adam, in one pass and
// in the same float32 arithmetic: m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2,
// value' = value - lr (m' / c1) / (sqrt(v' / c2) + epsilon), where hyper = [b1, b2, lr, epsilon,
// c1, c2] and c1, c2 are the bias corrections 1 - b1^t, 1 - b2^t.
void Adam(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() != 6) {
    throw Napi::TypeError::New(info.Env(), "adam: hyper must be an array of 6");
  }
  auto hyper = info[0].As<Napi::Array>();
  float h[6];
  for (uint32_t i = 0; i < 6; i++) h[i] = hyper.Get(i).As<Napi::Number>().FloatValue();
  const float b1 = h[0], b2 = h[1], lr = h[2], epsilon = h[3], c1 = h[4], c2 = h[5];
  const float oneMinusB1 = 1.0f - b1, oneMinusB2 = 1.0f - b2;
  const float* value = floats(info[1], "adam value");
  const float* m = floats(info[2], "adam m");
  const float* v = floats(info[3], "adam v");
  const float* g = floats(info[4], "adam g");
  float* newValue = floats(info[5], "adam newValue");
  float* newM = floats(info[6], "adam newM");
  float* newV = floats(info[7], "adam newV");
  int64_t n = static_cast<int64_t>(length(info[1]));
  for (int i = 2; i <= 7; i++) expectLength(info[i], n, "adam buffer");
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float mi = m[i] * b1 + g[i] * oneMinusB1;
    const float vi = v[i] * b2 + (g[i] * g[i]) * oneMinusB2;
    newM[i] = mi;
    newV[i] = vi;
    newValue[i] = ((mi / c1) / (std::sqrt(vi / c2) + epsilon)) * -lr + value[i];
  }
}

// ---- Module ---------------------------------------------------------------------------------

std::string isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
  }
}

// info(): {version, isa, threads} of the oneDNN this addon runs on.
Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const dnnl_version_t* v = dnnl::version();
  auto out = Napi::Object::New(env);
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                         std::to_string(v->patch));
  out.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
  out.Set("threads", omp_get_max_threads());
  return out;
}

// setThreads(n): the OpenMP threads of every later kernel on this thread (at most 1024: more
// is a mistake, which OpenMP would find only when it failed to start them).
void SetThreads(const Napi::CallbackInfo& info) {
  const int64_t threads = size(info[0], "setThreads threads");
  require(threads <= 1024, info.Env(), "setThreads threads must be at most 1024");
  omp_set_num_threads(static_cast<int>(threads));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using boundary::Export;
  Export<Conv>(env, exports, "conv");
  Export<BinaryConvGradient>(env, exports, "binaryConvGradient");
  Export<BatchNormForward>(env, exports, "batchNormForward");
  Export<BatchNormBackward>(env, exports, "batchNormBackward");
  Export<Sign>(env, exports, "sign");
  Export<EstimatorGradient>(env, exports, "estimatorGradient");
  Export<BinarizeWeight>(env, exports, "binarizeWeight");
  Export<WeightGradient>(env, exports, "weightGradient");
  Export<MaxPoolGrad>(env, exports, "maxPoolGrad");
  Export<AvgPoolGrad>(env, exports, "avgPoolGrad");
  Export<Add>(env, exports, "add");
  Export<Adam>(env, exports, "adam");
  Export<Info>(env, exports, "info");
  Export<SetThreads>(env, exports, "setThreads");
  AddEngineKernels(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(bireal_native, Init)
