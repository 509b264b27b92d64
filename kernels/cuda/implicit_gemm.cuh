// The host side of Kiln's tiled GEMM kernels (kernels/cuda/implicit_gemm_kernels.cuh): checks the
// device and the grid, picks the tiling (plan_gemm_tiling), takes the split-K workspace from the
// lease and queues the kernels on its stream (queue_implicit_gemm, which the emulated test runs).
// Included only by .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/implicit_gemm.h"
// The kernels and queue_implicit_gemm, in this namespace.
#include "kernels/cuda/implicit_gemm_kernels.cuh"

namespace kiln::kernels::cuda::detail {

// Queues C = A @ B of problem `p` on the lease's stream (FP32 or TF32 kernels), overwriting every
// output the problem stores. rows, cols and depth must be checked to fit int by the caller; depth
// may be 0 (every output is then the problem's empty sum: 0, plus bias for the forward).
template <class Problem>
void run_implicit_gemm(const Problem& p, bool tf32, DeviceLease& lease) {
  if (p.rows == 0 || p.cols == 0) return;
  if (tf32) {  // the TF32 kernel's body exists only for sm_80 and newer (wmma tf32)
    int major = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, lease.device()));
    KILN_CHECK(major >= 8, "Kiln's TF32 kernels need compute capability 8.0 or newer (this device ",
               "is ", major, ".x); use MathMode::FP32 or the cuDNN engine");
  }
  const GemmTiling tiling = plan_gemm_tiling(p.rows, p.cols, p.depth);
  const std::int64_t tiles_m = (p.rows + tiling.tile - 1) / tiling.tile;
  KILN_CHECK(tiles_m <= 65535, "implicit GEMM: ", p.rows, " rows need ", tiles_m,
             " block rows, more than CUDA's grid limit of 65535");
  const std::int64_t floats = gemm_workspace_floats(p, tiling);
  auto* partial =
      floats > 0
          ? static_cast<float*>(lease.workspace(sizeof(float) * static_cast<std::size_t>(floats)))
          : nullptr;
  queue_implicit_gemm(StreamLaunch{lease.stream()}, p, tf32, tiling, partial);
}

}  // namespace kiln::kernels::cuda::detail
