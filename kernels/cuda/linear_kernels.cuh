// The Dense layer's bias kernels (device code, device_code.h), beside linear.cu's cuBLAS GEMMs:
// the bias add after the forward GEMM and the bias gradient (column sums), with the queue_*
// functions that launch them (launch.h), used by kernels/cuda/linear.cu and
// tests/kernels/bias_linear_emulated_test.cpp. Row-major (M, N) as everywhere in linear.cu.
#pragma once

#include <cstdint>

#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

// y (M,N) += b (N), broadcast over rows. Grid-stride, so any M*N fits a bounded grid.
__global__ void add_bias_kernel(float* y, const float* b, std::int64_t m, std::int64_t n) {
  const std::int64_t total = m * n;
  for (std::int64_t i = grid_start(); i < total; i += grid_stride()) y[i] += b[i % n];
}

// gb (N) = column sums of gy (M,N). One block per tile of kBiasGradientTileCols columns, no
// atomics: each column is summed by one block alone, so the result is the same bit for bit on
// every run, and gb is written, never accumulated into, which is the kernel contract.
//   threadIdx.x: the column within the tile (a warp reads 32 consecutive floats of one row:
//                coalesced);
//   threadIdx.y: one of kBiasGradientRowLanes lanes, each summing every kBiasGradientRowLanes-th
//                row serially in float;
// then a shared-memory tree adds the lanes' partial sums (log2(lanes) levels). Float is enough: a
// batch has at most a few thousand rows, so each serial sum has at most a few hundred terms and
// rounding stays near 1e-5 relative; splitting the rows over lanes and finishing with a tree
// keeps the error lower than one long running sum would, without double's cost on GPUs.
constexpr int kBiasGradientTileCols = 32;
constexpr int kBiasGradientRowLanes = 8;

__global__ void bias_gradient_kernel(const float* gy, std::int64_t m, std::int64_t n, float* gb) {
  __shared__ float partial[kBiasGradientRowLanes][kBiasGradientTileCols];  // [lane][column]
  const std::int64_t col =
      static_cast<std::int64_t>(blockIdx.x) * kBiasGradientTileCols + threadIdx.x;
  float sum = 0.f;
  if (col < n) {
    for (std::int64_t row = threadIdx.y; row < m; row += kBiasGradientRowLanes)
      sum += gy[row * n + col];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  for (int half = kBiasGradientRowLanes / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half) {
      partial[threadIdx.y][threadIdx.x] += partial[threadIdx.y + half][threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && col < n) gb[col] = partial[0][threadIdx.x];
}

// y (M,N) += b (N), for M*N > 0.
template <class Launch>
void queue_linear_add_bias(const Launch& launch, float* y, const float* b, std::int64_t m,
                           std::int64_t n) {
  launch(grid_stride_shape(launch, m * n), add_bias_kernel, y, b, m, n);
}

// gb (N) = column sums of gy (M,N), for M > 0 and N > 0: a 2-D block of 32 columns x 8 row lanes,
// one block per 32 columns.
template <class Launch>
void queue_linear_bias_gradient(const Launch& launch, const float* gy, std::int64_t m,
                                std::int64_t n, float* gb) {
  const dim3 block(kBiasGradientTileCols, kBiasGradientRowLanes);
  const dim3 grid(static_cast<unsigned>((n + kBiasGradientTileCols - 1) / kBiasGradientTileCols));
  launch(LaunchShape{grid, block}, bias_gradient_kernel, gy, m, n, gb);
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
