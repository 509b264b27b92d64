// The deterministic-mode setting (kernels/cuda_runtime.h). Compiled in every build, CUDA or not: it
// is only a setting, and the cifar10 app parses --deterministic whatever the build.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "base/env_setting.h"
#include "base/error.h"
#include "kernels/cuda_runtime.h"

namespace kiln::kernels::cuda {
namespace {

std::atomic<bool>& deterministic_setting() {
  // Read once, on first use; a bad KILN_DETERMINISTIC fails then, naming the variable.
  static std::atomic<bool> on{deterministic_from_environment()};
  return on;
}

}  // namespace

bool parse_deterministic(const char* text) {
  if (std::strcmp(text, "1") == 0) return true;
  if (std::strcmp(text, "0") == 0) return false;
  KILN_FAIL("deterministic mode: expected 1 (on) or 0 (off), got '", text, "'");
}

bool deterministic_from_environment() {
  return from_environment("KILN_DETERMINISTIC", false, parse_deterministic);
}

void set_deterministic(bool on) { deterministic_setting().store(on); }

bool deterministic() { return deterministic_setting().load(); }

}  // namespace kiln::kernels::cuda
