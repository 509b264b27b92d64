// Elementwise ops and the sum on the GPU: the twins of kernels/cpu/elementwise.cpp. The kernels
// and their launches are in elementwise_kernels.cuh (run on the CPU by the emulated tests); this
// file checks arguments and binds the launches to Kiln's stream.
#include <cuda_runtime.h>

#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/elementwise_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/elementwise.h"

namespace kiln::kernels::cuda {
namespace {

using detail::StreamLaunch;

void check_n(const char* op, std::int64_t n) {
  KILN_CHECK(n >= 0, op, ": n must be non-negative, got ", n);
}

}  // namespace

void add(std::int64_t n, const float* a, const float* b, float* y) {
  check_n("add", n);
  if (n == 0) return;
  detail::queue_add(StreamLaunch{stream()}, n, a, b, y);
}

void mul(std::int64_t n, const float* a, const float* b, float* y) {
  check_n("mul", n);
  if (n == 0) return;
  detail::queue_mul(StreamLaunch{stream()}, n, a, b, y);
}

void scale(std::int64_t n, const float* a, float s, float* y) {
  check_n("scale", n);
  if (n == 0) return;
  detail::queue_scale(StreamLaunch{stream()}, n, a, s, y);
}

void axpy(std::int64_t n, float alpha, const float* x, float* y) {
  check_n("axpy", n);
  if (n == 0) return;
  detail::queue_axpy(StreamLaunch{stream()}, n, alpha, x, y);
}

double sum(std::int64_t n, const float* a) {
  check_n("sum", n);
  if (n == 0) return 0.0;
  DeviceLease lease;
  const StreamLaunch launch{lease.stream()};
  auto* workspace = static_cast<double*>(
      lease.workspace(sizeof(double) * detail::sum_workspace_doubles(launch, n)));
  const double* result = detail::queue_sum(launch, n, a, workspace);
  double host = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(&host, result, sizeof(double), cudaMemcpyDeviceToHost, launch.stream));
  CUDA_CHECK(cudaStreamSynchronize(launch.stream));
  return host;
}

void relu_forward(std::int64_t n, const float* x, float* y) {
  check_n("relu_forward", n);
  if (n == 0) return;
  detail::queue_relu_forward(StreamLaunch{stream()}, n, x, y);
}

void relu_backward(std::int64_t n, const float* y, const float* gy, float* gx) {
  check_n("relu_backward", n);
  if (n == 0) return;
  detail::queue_relu_backward(StreamLaunch{stream()}, n, y, gy, gx);
}

}  // namespace kiln::kernels::cuda
