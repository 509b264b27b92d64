// Which algorithm oneDNN's convolutions run (kernels/conv2d.h): the setting and the rule.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "base/env_setting.h"
#include "base/error.h"
#include "kernels/conv2d.h"

namespace kiln::kernels::cpu {
namespace {

std::atomic<CpuConvAlgorithm>& algorithm_setting() {
  // KILN_CPU_CONV_ALGORITHM, read once (base/env_setting.h).
  static std::atomic<CpuConvAlgorithm> setting{from_environment(
      "KILN_CPU_CONV_ALGORITHM", CpuConvAlgorithm::Auto, parse_cpu_conv_algorithm)};
  return setting;
}

}  // namespace

void set_cpu_conv_algorithm(CpuConvAlgorithm algorithm) { algorithm_setting().store(algorithm); }

CpuConvAlgorithm cpu_conv_algorithm() { return algorithm_setting().load(); }

const char* to_string(CpuConvAlgorithm algorithm) {
  switch (algorithm) {
    case CpuConvAlgorithm::Auto:
      return "auto";
    case CpuConvAlgorithm::Direct:
      return "direct";
    case CpuConvAlgorithm::Winograd:
      return "winograd";
  }
  return "?";
}

CpuConvAlgorithm parse_cpu_conv_algorithm(const char* text) {
  for (CpuConvAlgorithm a :
       {CpuConvAlgorithm::Auto, CpuConvAlgorithm::Direct, CpuConvAlgorithm::Winograd}) {
    if (std::strcmp(text, to_string(a)) == 0) return a;
  }
  KILN_FAIL("unknown CPU convolution algorithm '", text, "' (choose auto, direct or winograd)");
}

bool winograd_suits(const Conv2dGeometry& g) {
  return g.r == 3 && g.s == 3 && g.stride_h == 1 && g.stride_w == 1 && g.c >= 64 && g.k >= 64 &&
         g.p() >= 4 && g.q() >= 4;
}

bool wants_winograd(const Conv2dGeometry& g, CpuConvAlgorithm algorithm) {
  switch (algorithm) {
    case CpuConvAlgorithm::Direct:
      return false;
    case CpuConvAlgorithm::Winograd:
      return true;
    case CpuConvAlgorithm::Auto:
      return winograd_suits(g);
  }
  return false;
}

}  // namespace kiln::kernels::cpu
