// Inverted dropout (device code, device_code.h) and its launch (launch.h), used by
// kernels/cuda/dropout.cu and tests/kernels/pool_dropout_augment_emulated_test.cpp. One thread per
// element (grid-stride). Element i is kept iff random_uniform(seed, offset + i) >= p, computed in
// double by the same KILN_HOST_DEVICE function the CPU calls (kernels/random_bits.h), so the mask
// equals the CPU's bit for bit; y = x * mask is one IEEE multiply on both devices, so y matches.
#pragma once

#include <cstdint>

#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"
#include "kernels/random_bits.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

__global__ void dropout_forward_kernel(std::int64_t n, double p, std::uint64_t seed,
                                       std::uint64_t offset, float keep_scale, const float* x,
                                       float* y, float* mask) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) {
    const bool keep = random_uniform(seed, offset + static_cast<std::uint64_t>(i)) >= p;
    const float m = keep ? keep_scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

// For n > 0 and p in [0, 1). The kept elements' scale is the float the CPU derives: 1 / (1 - p) in
// double, rounded once to float.
template <class Launch>
void queue_dropout_forward(const Launch& launch, std::int64_t n, double p, std::uint64_t seed,
                           std::uint64_t offset, const float* x, float* y, float* mask) {
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
  launch(grid_stride_shape(launch, n), dropout_forward_kernel, n, p, seed, offset, keep_scale, x, y,
         mask);
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
