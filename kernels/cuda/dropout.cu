// Inverted dropout on the GPU: one thread per element (grid-stride). Element i is kept iff
// random_uniform(seed, offset + i) >= p, computed in double by the same KILN_HOST_DEVICE function
// the CPU calls (kernels/random_bits.h), so the mask equals the CPU's bit for bit; y = x * mask is
// one IEEE multiply on both devices, so y matches too.
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/dropout.h"
#include "kernels/random_bits.h"

namespace kiln::kernels::cuda {
namespace {

__global__ void dropout_forward_kernel(std::int64_t n, double p, std::uint64_t seed,
                                       std::uint64_t offset, float keep_scale, const float* x,
                                       float* y, float* mask) {
  for (std::int64_t i = detail::grid_start(); i < n; i += detail::grid_stride()) {
    const bool keep = random_uniform(seed, offset + static_cast<std::uint64_t>(i)) >= p;
    const float m = keep ? keep_scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace

void dropout_forward(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                     const float* x, float* y, float* mask) {
  KILN_CHECK(n >= 0, "dropout_forward: n must be non-negative, got ", n);
  KILN_CHECK(p >= 0.0 && p < 1.0, "dropout_forward: p must lie in [0, 1), got ", p);
  if (n == 0) return;
  // The same float the CPU derives: 1 / (1 - p) in double, rounded once to float.
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
  dropout_forward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream()>>>(
      n, p, seed, offset, keep_scale, x, y, mask);
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
