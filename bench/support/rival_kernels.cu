// See rival_kernels.h. Grid-stride loops and Kiln's deterministic block reduction.
#include <cuda_runtime.h>

#include "bench/support/rival_kernels.h"
#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"

namespace kiln::bench::rival {
namespace {

namespace detail = kernels::cuda::detail;

__global__ void nll_mean_kernel(std::int64_t n, std::int64_t k, const float* logp,
                                const std::int32_t* labels, double* loss) {
  __shared__ double scratch[32];
  double sum = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
    sum -= static_cast<double>(logp[i * k + labels[i]]);
  sum = detail::block_reduce(sum, detail::Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) loss[0] = n > 0 ? sum / static_cast<double>(n) : 0.0;
}

__global__ void nll_backward_kernel(std::int64_t n, std::int64_t k, const std::int32_t* labels,
                                    float scale, float* dlogp) {
  for (std::int64_t i = detail::grid_start(); i < n * k; i += detail::grid_stride()) {
    const std::int64_t row = i / k;
    dlogp[i] = i - row * k == labels[row] ? -scale : 0.f;
  }
}

}  // namespace

void nll_mean(std::int64_t n, std::int64_t k, const float* logp, const std::int32_t* labels,
              double* loss) {
  nll_mean_kernel<<<1, 256, 0, kernels::cuda::stream()>>>(n, k, logp, labels, loss);
  KILN_LAUNCH_CHECK();
}

void nll_backward(std::int64_t n, std::int64_t k, const std::int32_t* labels, float scale,
                  float* dlogp) {
  if (n * k == 0) return;
  nll_backward_kernel<<<detail::blocks_for(n * k), detail::kThreads, 0, kernels::cuda::stream()>>>(
      n, k, labels, scale, dlogp);
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::bench::rival
