// Per-channel NCHW bias add and bias gradient (device code, device_code.h): the twins of
// kernels/cpu/bias.cpp (see kernels/bias.h for the contracts), with the queue_* functions that
// choose and launch them (launch.h), used by kernels/cuda/bias.cu and
// tests/kernels/bias_linear_emulated_test.cpp.
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
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

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
    KILN_UNROLL
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
    KILN_UNROLL
    for (int u = 0; u < kUnroll; ++u) sum += v[u];
  }
  sum = block_reduce(sum, Sum{}, 0.f, scratch);
  if (threadIdx.x == 0) gb[c] = sum;
}

// Queues y += b with indices of type Index (queue_bias_add chooses; a test may force int64):
// float4 when HW % 4 == 0 and y is 16-byte aligned, else one float at a time.
template <typename Index, class Launch>
void queue_bias_add_indexed(const Launch& launch, std::int64_t total, std::int64_t k,
                            std::int64_t hw, const float* b, float* y) {
  const bool vec4 = hw % 4 == 0 && reinterpret_cast<std::uintptr_t>(y) % 16 == 0;
  if (vec4) {
    launch(grid_stride_shape(launch, total / 4), bias_add_nchw_vec4_kernel<Index>,
           static_cast<Index>(total / 4), static_cast<Index>(k), static_cast<Index>(hw / 4), b,
           reinterpret_cast<float4*>(y));
  } else {
    launch(grid_stride_shape(launch, total), bias_add_nchw_kernel<Index>, static_cast<Index>(total),
           static_cast<Index>(k), static_cast<Index>(hw), b, y);
  }
}

// y (N, K, HW) += b (K), for N*K*HW > 0: 32-bit indices when i + stride (at most the grid's
// threads past total) cannot wrap.
template <class Launch>
void queue_bias_add(const Launch& launch, std::int64_t n, std::int64_t k, std::int64_t hw,
                    const float* b, float* y) {
  const std::int64_t total = n * k * hw;
  const std::int64_t slack = launch.grid_cap(kMaxBlocks) * kThreads;
  if (total <= std::numeric_limits<std::uint32_t>::max() - slack) {
    queue_bias_add_indexed<std::uint32_t>(launch, total, k, hw, b, y);
  } else {
    queue_bias_add_indexed<std::int64_t>(launch, total, k, hw, b, y);
  }
}

// Channels of at least this many values get 1024-thread blocks (more loads in flight per block:
// with K = 64 only 64 SMs work); the choice depends on the shape alone, so the summation order
// stays fixed.
constexpr std::int64_t kBiasGradLongChannel = std::int64_t{1} << 15;

// gb (K) = the sums of gy (N, K, HW) over N and HW, for K > 0 and N*HW > 0 (the caller writes the
// empty sums) and K < 2^31 (one block per channel).
template <class Launch>
void queue_bias_grad(const Launch& launch, std::int64_t n, std::int64_t k, std::int64_t hw,
                     const float* gy, float* gb) {
  const dim3 grid(static_cast<unsigned>(k));
  if (n * hw >= kBiasGradLongChannel) {
    launch(LaunchShape{grid, dim3(1024), 0, 1024}, bias_grad_nchw_kernel<1024>, n, k, hw, gy, gb);
  } else {
    launch(LaunchShape{grid, dim3(kThreads), 0, kThreads}, bias_grad_nchw_kernel<kThreads>, n, k,
           hw, gy, gb);
  }
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
