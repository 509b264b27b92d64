// Elementwise kernels and the sum reduction (device code, device_code.h): the twins of
// kernels/cpu/elementwise.cpp, with the queue_* functions that launch them (launch.h), used by
// kernels/cuda/elementwise.cu and by tests/kernels/elementwise_emulated_test.cpp.
//
// Each elementwise kernel is a grid-stride loop in which thread i reads only index i before
// writing it, so exact aliasing (y == a) is safe, as on the CPU.
//
// NOTE: axpy is written with __fmul_rn/__fadd_rn so nvcc cannot fuse it into an FMA: the CPU
// rounds the product and the sum separately, and so must the GPU to give the same bits.
#pragma once

#include <cstdint>

#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

__global__ void add_kernel(std::int64_t n, const float* a, const float* b, float* y) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) y[i] = a[i] + b[i];
}

__global__ void mul_kernel(std::int64_t n, const float* a, const float* b, float* y) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) y[i] = a[i] * b[i];
}

__global__ void scale_kernel(std::int64_t n, const float* a, float s, float* y) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) y[i] = s * a[i];
}

__global__ void axpy_kernel(std::int64_t n, float alpha, const float* x, float* y) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride())
    y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}

// NOTE: `x < 0 ? 0 : x`, as on the CPU, so relu(NaN) stays NaN.
__global__ void relu_forward_kernel(std::int64_t n, const float* x, float* y) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) y[i] = x[i] < 0.f ? 0.f : x[i];
}

// NOTE: tested on the output, so x == 0 gets gradient 0, as on the CPU.
__global__ void relu_backward_kernel(std::int64_t n, const float* y, const float* gy, float* gx) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) gx[i] = y[i] > 0.f ? gy[i] : 0.f;
}

// Sum, pass 1: block b writes the double sum of its grid-stride share to partials[b].
__global__ void sum_partials_kernel(std::int64_t n, const float* a, double* partials) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) acc += static_cast<double>(a[i]);
  acc = block_reduce(acc, Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Pass 2, one block: result[0] = the sum of count partials, in a fixed order.
__global__ void sum_final_kernel(int count, const double* partials, double* result) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = block_reduce(acc, Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) result[0] = acc;
}

// Launches, for n > 0. Each is one grid-stride grid of kThreads-thread blocks.

template <class Launch>
void queue_add(const Launch& launch, std::int64_t n, const float* a, const float* b, float* y) {
  launch(grid_stride_shape(launch, n), add_kernel, n, a, b, y);
}

template <class Launch>
void queue_mul(const Launch& launch, std::int64_t n, const float* a, const float* b, float* y) {
  launch(grid_stride_shape(launch, n), mul_kernel, n, a, b, y);
}

template <class Launch>
void queue_scale(const Launch& launch, std::int64_t n, const float* a, float s, float* y) {
  launch(grid_stride_shape(launch, n), scale_kernel, n, a, s, y);
}

template <class Launch>
void queue_axpy(const Launch& launch, std::int64_t n, float alpha, const float* x, float* y) {
  launch(grid_stride_shape(launch, n), axpy_kernel, n, alpha, x, y);
}

template <class Launch>
void queue_relu_forward(const Launch& launch, std::int64_t n, const float* x, float* y) {
  launch(grid_stride_shape(launch, n), relu_forward_kernel, n, x, y);
}

template <class Launch>
void queue_relu_backward(const Launch& launch, std::int64_t n, const float* y, const float* gy,
                         float* gx) {
  launch(grid_stride_shape(launch, n), relu_backward_kernel, n, y, gy, gx);
}

// The sum runs in two passes with a grid that depends only on n (and the cap), so the summation
// order (and the result's bits) is the same on every run and every GPU; it differs from the CPU's
// sequential order, so the two agree to double rounding, not bitwise. Pass 2 is one block of
// kSumFinalThreads.
constexpr int kSumFinalThreads = 1024;

// The doubles of device workspace queue_sum needs: one partial per block of pass 1, then the
// result.
template <class Launch>
std::int64_t sum_workspace_doubles(const Launch& launch, std::int64_t n) {
  return grid_stride_shape(launch, n).grid.x + 1;
}

// Queues the sum of a (n > 0 floats) into `workspace` (sum_workspace_doubles of them) and returns
// where the result will be.
template <class Launch>
double* queue_sum(const Launch& launch, std::int64_t n, const float* a, double* workspace) {
  const LaunchShape partials = grid_stride_shape(launch, n);
  const int blocks = static_cast<int>(partials.grid.x);
  double* result = workspace + blocks;
  launch(partials, sum_partials_kernel, n, a, workspace);
  launch(LaunchShape{dim3(1), dim3(kSumFinalThreads)}, sum_final_kernel, blocks,
         static_cast<const double*>(workspace), result);
  return result;
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
