// Launch shapes shared by Kiln's hand-written kernels, and the grid-stride index they loop with.
// Included only by .cu files.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace kiln::kernels::cuda::detail {

constexpr int kThreads = 256;  // threads per block of the elementwise kernels
// A bounded grid: enough 256-thread blocks to fill any current GPU several times over (an H100
// holds 132 SMs x 8 such blocks); grid-stride loops cover any n beyond it. A grid that depends
// only on n (never on the device) also keeps reductions' summation order device-independent.
constexpr std::int64_t kMaxBlocks = 4096;

// Blocks for n independent items at `threads` per block: at least 1, at most kMaxBlocks.
inline int blocks_for(std::int64_t n, int threads = kThreads) {
  return static_cast<int>(std::clamp<std::int64_t>((n + threads - 1) / threads, 1, kMaxBlocks));
}

// First index of this thread and the stride of a 1-D grid-stride loop, in 64 bits so that
// n > 2^31 elements never overflows.
__device__ inline std::int64_t grid_start() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

}  // namespace kiln::kernels::cuda::detail
