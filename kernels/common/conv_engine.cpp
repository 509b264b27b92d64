// The conv-engine setting (kernels/conv2d.h). Compiled in every build, CUDA or not: it is only a
// setting, and the cifar10 app parses --conv-engine whatever the build.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/conv2d.h"

namespace kiln::kernels::cuda {
namespace {

// KILN_CONV_ENGINE, read once; a bad value fails on first use, naming the variable.
ConvEngine initial_engine() {
  const char* env = std::getenv("KILN_CONV_ENGINE");
  if (env == nullptr || *env == '\0') return ConvEngine::Auto;
  try {
    return parse_conv_engine(env);
  } catch (const Error& e) {
    KILN_FAIL("KILN_CONV_ENGINE: ", e.what());
  }
}

std::atomic<ConvEngine>& engine_setting() {
  static std::atomic<ConvEngine> engine{initial_engine()};
  return engine;
}

}  // namespace

void set_conv_engine(ConvEngine engine) { engine_setting().store(engine); }

ConvEngine conv_engine() { return engine_setting().load(); }

const char* to_string(ConvEngine engine) {
  switch (engine) {
    case ConvEngine::Auto: return "auto";
    case ConvEngine::CuDNN: return "cudnn";
    case ConvEngine::Kiln: return "kiln";
  }
  return "?";
}

ConvEngine parse_conv_engine(const char* text) {
  for (ConvEngine e : {ConvEngine::Auto, ConvEngine::CuDNN, ConvEngine::Kiln}) {
    if (std::strcmp(text, to_string(e)) == 0) return e;
  }
  KILN_FAIL("unknown convolution engine '", text, "' (choose auto, cudnn or kiln)");
}

}  // namespace kiln::kernels::cuda
