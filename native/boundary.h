// The addon's boundary with JavaScript, shared by its exports (bireal_native.cc, engine.cc):
// whatever a kernel throws becomes a JavaScript error, and sizes multiply without wrapping.
#pragma once

#include <napi.h>

#include <exception>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "oneapi/dnnl/dnnl.hpp"

namespace boundary {

// The export F with every exception turned into a JavaScript error: node-addon-api only turns
// Napi::Error into one, and any other exception (oneDNN's unsupported shapes, the standard
// library's bad_alloc or length_error) would abort the process.
template <auto F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    if constexpr (std::is_void_v<decltype(F(info))>) {
      F(info);
      return info.Env().Undefined();
    } else {
      return F(info);
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("native: ") + e.what());
  } catch (...) {
    throw Napi::Error::New(info.Env(), "native: unknown exception");
  }
}

// Adds the export F, guarded, as `name`.
template <auto F>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, Guarded<F>, name));
}

inline void require(bool ok, const Napi::Env& env, const std::string& message) {
  if (!ok) throw Napi::RangeError::New(env, message);
}

// The product of `sizes` (each at least 0), or a RangeError naming `what` where it overflows:
// buffer lengths are checked against products of the caller's sizes, which must not wrap.
inline int64_t product(const Napi::Env& env, std::initializer_list<int64_t> sizes,
                       const std::string& what) {
  int64_t out = 1;
  for (int64_t size : sizes) {
    require(size >= 0 && !__builtin_mul_overflow(out, size, &out), env,
            what + ": size overflows 64 bits");
  }
  return out;
}

}  // namespace boundary
