// Batch normalisation over NCHW channels on the GPU: the twins of kernels/cpu/batch_norm.cpp. The
// kernels, and the choice between them, are in batch_norm_kernels.cuh (run on the CPU by the
// emulated tests); this file checks arguments and binds the launches to Kiln's stream.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "base/error.h"
#include "kernels/batch_norm.h"
#include "kernels/cuda/batch_norm_kernels.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"

namespace kiln::kernels::cuda {
namespace {

void check_dims(const char* op, std::int64_t n, std::int64_t c, std::int64_t hw) {
  KILN_CHECK(n >= 0 && c >= 0 && hw >= 0, op, ": N = ", n, ", C = ", c, ", HW = ", hw,
             " must be non-negative");
}

// The per-channel sums run one block per channel.
void check_grid(const char* op, std::int64_t c) {
  KILN_CHECK(c <= std::numeric_limits<int>::max(), op, ": C = ", c,
             " channels exceed the grid's limit of 2^31 - 1 blocks");
}

}  // namespace

void batch_norm_stats(std::int64_t n, std::int64_t c, std::int64_t hw, const float* x, float* mean,
                      float* var, double momentum, float* running_mean, float* running_var) {
  check_dims("batch_norm_stats", n, c, hw);
  check_grid("batch_norm_stats", c);
  KILN_CHECK(n * hw > 0, "batch_norm_stats: N * HW = ", n * hw, " (N = ", n, ", HW = ", hw,
             "): a channel's mean and variance need at least one value");
  if (c == 0) return;
  detail::queue_batch_norm_stats(detail::StreamLaunch{stream()}, n, c, hw, x, mean, var, momentum,
                                 running_mean, running_var);
}

void batch_norm_forward(std::int64_t n, std::int64_t c, std::int64_t hw, double eps, const float* x,
                        const float* mean, const float* var, const float* gamma, const float* beta,
                        float* y) {
  check_dims("batch_norm_forward", n, c, hw);
  if (n * c * hw == 0) return;
  detail::queue_batch_norm_forward(detail::StreamLaunch{stream()}, n, c, hw, eps, x, mean, var,
                                   gamma, beta, y);
}

void batch_norm_backward(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                         bool batch_stats, const float* x, const float* gy, const float* mean,
                         const float* var, const float* gamma, float* gx, float* ggamma,
                         float* gbeta) {
  check_dims("batch_norm_backward", n, c, hw);
  check_grid("batch_norm_backward", c);
  if (c == 0) return;
  if (n * hw == 0) {  // empty sums, as the CPU's loops leave them; gx has no elements
    CUDA_CHECK(cudaMemsetAsync(ggamma, 0, sizeof(float) * c, stream()));
    CUDA_CHECK(cudaMemsetAsync(gbeta, 0, sizeof(float) * c, stream()));
    return;
  }
  detail::queue_batch_norm_backward(detail::StreamLaunch{stream()}, n, c, hw, eps, batch_stats, x,
                                    gy, mean, var, gamma, gx, ggamma, gbeta);
}

}  // namespace kiln::kernels::cuda
