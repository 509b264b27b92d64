// fill_float: the smallest real kernel, so every build compiles and links a __global__ function
// and its launch check. Grid-stride loop: any n fits in a bounded grid.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda_fill.h"

namespace kiln::kernels::cuda {
namespace {

__global__ void fill_float_kernel(float* dst, std::int64_t n, float value) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = value;
  }
}

}  // namespace

void fill_float(float* dst, std::int64_t n, float value) {
  KILN_CHECK(n >= 0, "fill_float: n must be non-negative, got ", n);
  if (n == 0) return;
  constexpr int kThreads = 256;
  // Enough blocks to fill any current GPU several times over; the loop covers the rest.
  constexpr std::int64_t kMaxBlocks = 4096;
  const int blocks =
      static_cast<int>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
  fill_float_kernel<<<blocks, kThreads, 0, stream()>>>(dst, n, value);
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
