// Inverted dropout on the GPU: the twin of kernels/cpu/dropout.cpp. The kernel and its launch are
// in dropout_kernels.cuh (run on the CPU by the emulated tests); this file checks arguments and
// binds the launch to Kiln's stream.
#include <cuda_runtime.h>

#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/dropout_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/dropout.h"

namespace kiln::kernels::cuda {

void dropout_forward(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                     const float* x, float* y, float* mask) {
  KILN_CHECK(n >= 0, "dropout_forward: n must be non-negative, got ", n);
  KILN_CHECK(p >= 0.0 && p < 1.0, "dropout_forward: p must lie in [0, 1), got ", p);
  if (n == 0) return;
  detail::queue_dropout_forward(detail::StreamLaunch{stream()}, n, p, seed, offset, x, y, mask);
}

}  // namespace kiln::kernels::cuda
