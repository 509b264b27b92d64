// Per-channel NCHW bias add and bias gradient on the GPU: the twins of kernels/cpu/bias.cpp (see
// kernels/bias.h for the contracts).
//
// Add: a grid-stride elementwise loop, y[i] += b[(i / HW) % K], one correctly rounded add per
// element, so the bits equal the CPU's. The channel costs two integer divisions per element,
// which at HBM speed is not free: the loop runs on float4 (one division pair per four elements)
// when HW is a multiple of 4 and y is 16-byte aligned, and in 32-bit indices when the tensor
// allows, since 64-bit division is emulated in software on the GPU.
//
// Gradient: one block per channel, each thread summing a fixed stride of the channel's N*HW values
// in float, then block_reduce's fixed combining order. The block size depends only on the shape,
// so the summation order, and the bits, repeat run to run and device to device; no atomics.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "core/error.h"
#include "kernels/bias.h"
#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"

namespace kiln::kernels::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;

// y (total / (K*HW), K, HW) += b (K); Index is std::uint32_t when every index fits, else int64.
template <typename Index>
__global__ void bias_add_nchw_kernel(Index total, Index k, Index hw, const float* b, float* y) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    y[i] += b[(i / hw) % k];
  }
}

// The same on float4: total4 = total / 4 vectors, hw4 = HW / 4 vectors per (n, k) plane, so a
// vector never straddles two channels.
template <typename Index>
__global__ void bias_add_nchw_vec4_kernel(Index total4, Index k, Index hw4, const float* b,
                                          float4* y) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total4;
       i += stride) {
    const float bias = b[(i / hw4) % k];
    float4 v = y[i];
    v.x += bias;
    v.y += bias;
    v.z += bias;
    v.w += bias;
    y[i] = v;
  }
}

// gb[c] for c = blockIdx.x. Thread t visits the flattened (image, j) positions t, t + Threads,
// t + 2 Threads, ... of the channel's N x HW values; the position advances by additions only (no
// division per element). Each iteration issues kUnroll independent loads before adding them in
// visiting order, so the sum is the same as one load at a time, with more memory in flight.
template <int Threads>
__global__ void __launch_bounds__(Threads)
    bias_grad_nchw_kernel(std::int64_t n, std::int64_t k, std::int64_t hw, const float* gy,
                          float* gb) {
  constexpr int kUnroll = 4;
  __shared__ float scratch[32];
  const std::int64_t c = blockIdx.x, plane_stride = k * hw;  // elements from image i to i + 1
  const std::int64_t step_image = Threads / hw, step_j = Threads % hw;
  std::int64_t image = threadIdx.x / hw, j = threadIdx.x % hw;
  std::int64_t offset = image * plane_stride + c * hw + j;  // of (image, c, j) in gy
  float sum = 0.f;
  while (image < n) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      v[u] = image < n ? gy[offset] : 0.f;
      image += step_image;
      j += step_j;
      offset += step_image * plane_stride + step_j;
      if (j >= hw) {  // wrapped into the next image's plane
        j -= hw;
        ++image;
        offset += plane_stride - hw;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) sum += v[u];
  }
  sum = detail::block_reduce(sum, detail::Sum{}, 0.f, scratch);
  if (threadIdx.x == 0) gb[c] = sum;
}

void check_dims(const char* op, std::int64_t n, std::int64_t k, std::int64_t hw) {
  KILN_CHECK(n >= 0 && k >= 0 && hw >= 0, op, ": N = ", n, ", K = ", k, ", HW = ", hw,
             " must be non-negative");
  KILN_CHECK(k <= std::numeric_limits<int>::max(), op, ": K = ", k,
             " channels exceed the grid's limit of 2^31 - 1 blocks");
}

template <typename Index>
void launch_bias_add(std::int64_t total, std::int64_t k, std::int64_t hw, const float* b,
                     float* y) {
  const bool vec4 = hw % 4 == 0 && reinterpret_cast<std::uintptr_t>(y) % 16 == 0;
  if (vec4) {
    bias_add_nchw_vec4_kernel<Index><<<blocks_for(total / 4), kThreads, 0, stream()>>>(
        static_cast<Index>(total / 4), static_cast<Index>(k), static_cast<Index>(hw / 4), b,
        reinterpret_cast<float4*>(y));
  } else {
    bias_add_nchw_kernel<Index><<<blocks_for(total), kThreads, 0, stream()>>>(
        static_cast<Index>(total), static_cast<Index>(k), static_cast<Index>(hw), b, y);
  }
  KILN_LAUNCH_CHECK();
}

}  // namespace

void bias_add_nchw(std::int64_t n, std::int64_t k, std::int64_t hw, const float* b, float* y) {
  check_dims("bias_add_nchw", n, k, hw);
  const std::int64_t total = n * k * hw;
  if (total == 0) return;
  // 32-bit indices when i + stride (at most kMaxBlocks * kThreads past total) cannot wrap.
  constexpr std::int64_t kSlack = detail::kMaxBlocks * kThreads;
  if (total <= std::numeric_limits<std::uint32_t>::max() - kSlack) {
    launch_bias_add<std::uint32_t>(total, k, hw, b, y);
  } else {
    launch_bias_add<std::int64_t>(total, k, hw, b, y);
  }
}

void bias_grad_nchw(std::int64_t n, std::int64_t k, std::int64_t hw, const float* gy, float* gb) {
  check_dims("bias_grad_nchw", n, k, hw);
  if (k == 0) return;
  if (n * hw == 0) {  // empty sums
    CUDA_CHECK(cudaMemsetAsync(gb, 0, sizeof(float) * k, stream()));
    return;
  }
  // Long channels get 1024 threads (more loads in flight per block: with K = 64 only 64 SMs
  // work); the choice depends on the shape alone, so the summation order stays fixed.
  const unsigned blocks = static_cast<unsigned>(k);
  if (n * hw >= (std::int64_t{1} << 15)) {
    bias_grad_nchw_kernel<1024><<<blocks, 1024, 0, stream()>>>(n, k, hw, gy, gb);
  } else {
    bias_grad_nchw_kernel<kThreads><<<blocks, kThreads, 0, stream()>>>(n, k, hw, gy, gb);
  }
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
