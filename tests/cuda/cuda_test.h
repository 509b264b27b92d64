// Scaffolding shared by the CUDA test files: the skip guards (tests/support/cuda_skip.h), the
// scoped settings (math mode, conv engine, deterministic mode: kernels/) a test uses so it never
// leaks them, and tensor sizes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_memory.h"
#include "tests/support/cuda_skip.h"

namespace kiln::test {

using kernels::cuda::ConvEngineScope;
using kernels::cuda::DeterministicScope;
using kernels::cuda::MathModeScope;

inline const char* name_of(kernels::cuda::MathMode mode) {
  return mode == kernels::cuda::MathMode::TF32 ? "TF32" : "FP32";
}

// The same floats in double, for references computed exactly on the GPU's inputs.
inline std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Element counts of a convolution's tensors.
inline std::int64_t x_size(const kernels::Conv2dGeometry& g) { return g.n * g.c * g.h * g.w; }
inline std::int64_t w_size(const kernels::Conv2dGeometry& g) { return g.k * g.c * g.r * g.s; }
inline std::int64_t y_size(const kernels::Conv2dGeometry& g) { return g.n * g.k * g.p() * g.q(); }

}  // namespace kiln::test
