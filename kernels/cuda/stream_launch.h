// The library's Launch (launch.h): queues a kernel on a stream, then checks the launch. Included
// only by .cu files (check.h pulls in the CUDA headers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::detail {

struct StreamLaunch {
  cudaStream_t stream;  // Kiln's stream (runtime.h): every launch goes there

  // The library's caps, unchanged.
  std::int64_t grid_cap(std::int64_t cap) const { return cap; }

  template <class... Params, class... Args>
  void operator()(const LaunchShape& shape, void (*kernel)(Params...), const Args&... args) const {
    kernel<<<shape.grid, shape.block, shape.shared_bytes, stream>>>(args...);
    KILN_LAUNCH_CHECK();
  }
};

}  // namespace kiln::kernels::cuda::detail
