// Deterministic block-wide reductions: warp shuffles, then one value per warp through shared
// memory, combined by warp 0 in a fixed order. For a given blockDim and input the result is the
// same bits on every run (no atomics, no dependence on scheduling). Device code (device_code.h):
// included by the kernel headers, so the emulated tests run it too.
//
// Requires: a 1-D block, blockDim.x a multiple of 32 and at most 1024; every thread of the block
// calls the reduction (it holds __syncthreads). The result is valid in every thread. (The
// emulation fails a shuffle in a partial warp, so a block size that breaks the first rule fails
// its test.)
#pragma once

#include "kernels/cuda/device_code.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

constexpr unsigned kFullMask = 0xffffffffu;

template <typename T, typename Op>
__device__ inline T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_down_sync(kFullMask, v, offset));
  return v;  // lane 0 holds the warp's result
}

// `scratch` is __shared__ storage for 32 values of T, reused by consecutive calls (the leading
// __syncthreads protects it from the previous call's readers).
template <typename T, typename Op>
__device__ inline T block_reduce(T v, Op op, T identity, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = static_cast<int>(blockDim.x >> 5);
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? scratch[lane] : identity;
    v = warp_reduce(v, op);
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  return scratch[0];
}

struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

// NOTE: with NaNs the result depends on where they sit in the combining order, unlike the CPU's
// sequential max; it does not matter where this is used, because a NaN logit makes every exp
// term of its row, and so every probability and the loss, NaN on both devices anyway.
struct Max {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
