// The conv-engine setting and the engine rules that need no device (kernels/conv2d.h). Compiled in
// every build, CUDA or not: they are only a setting and pure functions, the cifar10 app parses
// --conv-engine whatever the build, and the CPU tests check the rules.
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "base/env_setting.h"
#include "base/error.h"
#include "kernels/conv2d.h"

namespace kiln::kernels::cuda {
namespace {

std::atomic<ConvEngine>& engine_setting() {
  // KILN_CONV_ENGINE, read once (base/env_setting.h).
  static std::atomic<ConvEngine> engine{
      from_environment("KILN_CONV_ENGINE", ConvEngine::Auto, parse_conv_engine)};
  return engine;
}

}  // namespace

void set_conv_engine(ConvEngine engine) { engine_setting().store(engine); }

ConvEngine conv_engine() { return engine_setting().load(); }

const char* to_string(ConvEngine engine) {
  switch (engine) {
    case ConvEngine::Auto:
      return "auto";
    case ConvEngine::CuDNN:
      return "cudnn";
    case ConvEngine::Kiln:
      return "kiln";
  }
  return "?";
}

ConvEngine parse_conv_engine(const char* text) {
  for (ConvEngine e : {ConvEngine::Auto, ConvEngine::CuDNN, ConvEngine::Kiln}) {
    if (std::strcmp(text, to_string(e)) == 0) return e;
  }
  KILN_FAIL("unknown convolution engine '", text, "' (choose auto, cudnn or kiln)");
}

bool kiln_engine_fits(const Conv2dGeometry& g, std::int64_t* too_large) {
  // The sizes kernels/implicit_gemm.h's problems hold in int (ConvShape and the three GEMM sides).
  const std::int64_t sizes[] = {g.n,
                                g.c,
                                g.h,
                                g.w,
                                g.k,
                                g.r,
                                g.s,
                                g.p(),
                                g.q(),
                                g.h * g.w,
                                g.p() * g.q(),
                                g.c * g.r * g.s,
                                g.k * g.r * g.s,
                                g.n * g.h * g.w,
                                g.n * g.p() * g.q()};
  for (const std::int64_t v : sizes) {
    if (v < 0 || v > INT_MAX) {
      if (too_large != nullptr) *too_large = v;
      return false;
    }
  }
  return true;
}

bool kiln_engine_supports(const Conv2dGeometry& g, MathMode mode, int compute_major) {
  return kiln_engine_fits(g) && (mode != MathMode::TF32 || compute_major >= 8);
}

ConvEngine deterministic_auto_engine(const Conv2dGeometry& g, MathMode mode, int compute_major) {
  return kiln_engine_supports(g, mode, compute_major) ? ConvEngine::Kiln : ConvEngine::CuDNN;
}

}  // namespace kiln::kernels::cuda
