// Per-channel NCHW bias add and bias gradient on the GPU: the twins of kernels/cpu/bias.cpp. The
// kernels, and the choice between them, are in bias_kernels.cuh (run on the CPU by the emulated
// tests); this file checks arguments and binds the launches to Kiln's stream.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "base/error.h"
#include "kernels/bias.h"
#include "kernels/cuda/bias_kernels.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"

namespace kiln::kernels::cuda {
namespace {

void check_dims(const char* op, std::int64_t n, std::int64_t k, std::int64_t hw) {
  KILN_CHECK(n >= 0 && k >= 0 && hw >= 0, op, ": N = ", n, ", K = ", k, ", HW = ", hw,
             " must be non-negative");
  KILN_CHECK(k <= std::numeric_limits<int>::max(), op, ": K = ", k,
             " channels exceed the grid's limit of 2^31 - 1 blocks");
}

}  // namespace

void bias_add_nchw(std::int64_t n, std::int64_t k, std::int64_t hw, const float* b, float* y) {
  check_dims("bias_add_nchw", n, k, hw);
  if (n * k * hw == 0) return;
  detail::queue_bias_add(detail::StreamLaunch{stream()}, n, k, hw, b, y);
}

void bias_grad_nchw(std::int64_t n, std::int64_t k, std::int64_t hw, const float* gy, float* gb) {
  check_dims("bias_grad_nchw", n, k, hw);
  if (k == 0) return;
  if (n * hw == 0) {  // empty sums
    CUDA_CHECK(cudaMemsetAsync(gb, 0, sizeof(float) * k, stream()));
    return;
  }
  detail::queue_bias_grad(detail::StreamLaunch{stream()}, n, k, hw, gy, gb);
}

}  // namespace kiln::kernels::cuda
