// fill_float: the smallest real kernel (fill_kernels.cuh), so every build compiles and links a
// __global__ function and its launch check.
#include <cuda_runtime.h>

#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/fill_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/cuda_fill.h"

namespace kiln::kernels::cuda {

void fill_float(float* dst, std::int64_t n, float value) {
  KILN_CHECK(n >= 0, "fill_float: n must be non-negative, got ", n);
  if (n == 0) return;
  detail::queue_fill_float(detail::StreamLaunch{stream()}, dst, n, value);
}

}  // namespace kiln::kernels::cuda
