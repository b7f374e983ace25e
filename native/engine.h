// The packed inference engine's native kernels (engine.cc), added to the addon's exports.
#pragma once

#include <napi.h>

// Adds engineIsas, enginePackSigns, enginePool, engineBinaryConv, engineConvPlan and engineRun
// to `exports` (see engine.cc).
void AddEngineKernels(Napi::Env env, Napi::Object exports);
