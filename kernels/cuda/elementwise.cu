// Elementwise kernels and the sum reduction on the GPU: the twins of kernels/cpu/elementwise.cpp.
// Each elementwise kernel is a grid-stride loop in which thread i reads only index i before
// writing it, so exact aliasing (y == a) is safe, as on the CPU.
//
// NOTE: axpy is written with __fmul_rn/__fadd_rn so nvcc cannot fuse it into an FMA: the CPU
// rounds the product and the sum separately, and so must the GPU to give the same bits.
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/elementwise.h"

namespace kiln::kernels::cuda {
namespace {

using detail::blocks_for;
using detail::grid_start;
using detail::grid_stride;
using detail::kThreads;

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
  acc = detail::block_reduce(acc, detail::Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Pass 2, one block: result[0] = the sum of count partials, in a fixed order.
__global__ void sum_final_kernel(int count, const double* partials, double* result) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = detail::block_reduce(acc, detail::Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) result[0] = acc;
}

void check_n(const char* op, std::int64_t n) {
  KILN_CHECK(n >= 0, op, ": n must be non-negative, got ", n);
}

}  // namespace

void add(std::int64_t n, const float* a, const float* b, float* y) {
  check_n("add", n);
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, y);
  KILN_LAUNCH_CHECK();
}

void mul(std::int64_t n, const float* a, const float* b, float* y) {
  check_n("mul", n);
  if (n == 0) return;
  mul_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, y);
  KILN_LAUNCH_CHECK();
}

void scale(std::int64_t n, const float* a, float s, float* y) {
  check_n("scale", n);
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, a, s, y);
  KILN_LAUNCH_CHECK();
}

void axpy(std::int64_t n, float alpha, const float* x, float* y) {
  check_n("axpy", n);
  if (n == 0) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, alpha, x, y);
  KILN_LAUNCH_CHECK();
}

// Two passes with a grid that depends only on n, so the summation order (and the result's bits)
// is the same on every run and every GPU; it differs from the CPU's sequential order, so the two
// agree to double rounding, not bitwise.
double sum(std::int64_t n, const float* a) {
  check_n("sum", n);
  if (n == 0) return 0.0;
  DeviceLease lease;  // the workspace holds (blocks + 1) doubles: the partials, then the result
  const cudaStream_t s = lease.stream();
  const int blocks = blocks_for(n);
  auto* partials = static_cast<double*>(lease.workspace(sizeof(double) * (blocks + 1)));
  double* result = partials + blocks;
  sum_partials_kernel<<<blocks, kThreads, 0, s>>>(n, a, partials);
  KILN_LAUNCH_CHECK();
  sum_final_kernel<<<1, 1024, 0, s>>>(blocks, partials, result);
  KILN_LAUNCH_CHECK();
  double host = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(&host, result, sizeof(double), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return host;
}

void relu_forward(std::int64_t n, const float* x, float* y) {
  check_n("relu_forward", n);
  if (n == 0) return;
  relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, y);
  KILN_LAUNCH_CHECK();
}

void relu_backward(std::int64_t n, const float* y, const float* gy, float* gx) {
  check_n("relu_backward", n);
  if (n == 0) return;
  relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, y, gy, gx);
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
