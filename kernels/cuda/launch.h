// Launch shapes shared by Kiln's hand-written kernels, the grid-stride index they loop with, and
// the Launch through which every kernel family queues its kernels. Device code (device_code.h):
// included by .cu files and by the emulated tests.
//
// Each family's *_kernels.cuh holds, beside its kernels, queue_* functions that take a Launch:
//   launch(const LaunchShape& shape, kernel, args...)   runs kernel<<<shape>>>(args...);
//   launch.grid_cap(cap)                                 the block cap of a grid whose kernel loops
//                                                        over what the grid does not cover, given
//                                                        the library's cap for it (kMaxBlocks).
// The .cu files pass StreamLaunch (stream_launch.h: Kiln's stream, then the launch check; the
// library's caps); the emulated tests pass tests/support/emulated_launch.h's EmulatedLaunch, which
// runs the kernel on the CPU and may lower the caps so that grid-stride loops wrap on small
// inputs. So the tests run the very launch shapes, kernel choices and kernel parameters that the
// library launches; only memory (device workspaces, uploads) and the stream stay in the .cu files.
// A queue function rather than a function returning a shape, because several families choose
// between kernels (bias add's index type and float4 path, its gradient's block size, the GEMM's
// tile) or launch two in sequence (the sums), and that choice is what the tests must see.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/device_code.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

constexpr int kThreads = 256;  // threads per block of the elementwise kernels
// A bounded grid: enough 256-thread blocks to fill any current GPU several times over (an H100
// holds 132 SMs x 8 such blocks); grid-stride loops cover any n beyond it. A grid that depends
// only on n (never on the device) also keeps reductions' summation order device-independent.
constexpr std::int64_t kMaxBlocks = 4096;

// Blocks for n independent items at `threads` per block: at least 1, at most max_blocks.
inline int blocks_for(std::int64_t n, int threads = kThreads,
                      std::int64_t max_blocks = kMaxBlocks) {
  return static_cast<int>(std::clamp<std::int64_t>((n + threads - 1) / threads, 1, max_blocks));
}

// First index of this thread and the stride of a 1-D grid-stride loop, in 64 bits so that
// n > 2^31 elements never overflows.
__device__ inline std::int64_t grid_start() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

// One launch: kernel<<<grid, block, shared_bytes>>>. max_threads repeats the kernel's
// __launch_bounds__ (0: it declares none), for the emulation, which cannot see the attribute and
// refuses a larger block as the driver would.
struct LaunchShape {
  dim3 grid, block;
  unsigned shared_bytes = 0;
  unsigned max_threads = 0;
};

// kThreads-thread blocks for a grid-stride loop over n items, at most kMaxBlocks of them.
template <class Launch>
LaunchShape grid_stride_shape(const Launch& launch, std::int64_t n) {
  const int blocks = blocks_for(n, kThreads, launch.grid_cap(kMaxBlocks));
  return LaunchShape{dim3(static_cast<unsigned>(blocks)), dim3(kThreads)};
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
