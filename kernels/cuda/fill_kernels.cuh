// fill_float's kernel (device code, device_code.h) and its launch (launch.h), used by
// kernels/cuda/fill.cu and tests/kernels/elementwise_emulated_test.cpp. A grid-stride loop: any n
// fits in a bounded grid.
#pragma once

#include <cstdint>

#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

__global__ void fill_float_kernel(float* dst, std::int64_t n, float value) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) dst[i] = value;
}

// For n > 0.
template <class Launch>
void queue_fill_float(const Launch& launch, float* dst, std::int64_t n, float value) {
  launch(grid_stride_shape(launch, n), fill_float_kernel, dst, n, value);
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
