// The host side of Kiln's tiled GEMM kernels (kernels/cuda/implicit_gemm_kernels.cuh): picks the
// tiling (plan_gemm_tiling), launches the tile kernel on the lease's stream and, under split-K, the
// reduction. Included only by .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/implicit_gemm.h"
// The kernels themselves, in this namespace.
#include "kernels/cuda/implicit_gemm_kernels.cuh"

namespace kiln::kernels::cuda::detail {

template <class Problem, int TILE>
void launch_gemm_tiles(const Problem& p, bool tf32, dim3 grid, int k_per_split, float* partial,
                       cudaStream_t s) {
  if (tf32) {
    gemm_tf32_kernel<Problem, TILE><<<grid, kGemmThreads, 0, s>>>(p, k_per_split, partial);
  } else {
    gemm_fp32_kernel<Problem, TILE><<<grid, kGemmThreads, 0, s>>>(p, k_per_split, partial);
  }
  KILN_LAUNCH_CHECK();
}

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
  // Columns (output pixels, the largest side) on grid x, whose limit is 2^31 - 1.
  const dim3 grid(static_cast<unsigned>((p.cols + tiling.tile - 1) / tiling.tile),
                  static_cast<unsigned>(tiles_m), static_cast<unsigned>(tiling.splits));
  float* partial = nullptr;
  if (tiling.splits > 1) {
    const std::int64_t floats = static_cast<std::int64_t>(tiling.splits) * p.rows * p.cols;
    partial =
        static_cast<float*>(lease.workspace(sizeof(float) * static_cast<std::size_t>(floats)));
  }
  if (tiling.tile == 128) {
    launch_gemm_tiles<Problem, 128>(p, tf32, grid, tiling.k_per_split, partial, lease.stream());
  } else {
    launch_gemm_tiles<Problem, 64>(p, tf32, grid, tiling.k_per_split, partial, lease.stream());
  }
  if (partial != nullptr) {
    splitk_reduce_kernel<<<blocks_for(static_cast<std::int64_t>(p.rows) * p.cols), kThreads, 0,
                           lease.stream()>>>(p, tiling.splits, partial);
    KILN_LAUNCH_CHECK();
  }
}

}  // namespace kiln::kernels::cuda::detail
