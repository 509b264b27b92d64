// conv2d, linear and runtime entry points for builds without the CUDA backend (KILN_CUDA=OFF or no
// nvcc). The math mode is only a setting, so it is kept and read back; everything that would run
// on a device fails loudly with the reason, never silently.
#include <atomic>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace kiln::kernels::cuda {
namespace {

constexpr const char* kReason = "Kiln was built without CUDA (KILN_CUDA=OFF or no nvcc)";

[[noreturn]] void fail(const char* what) { KILN_FAIL(what, ": ", kReason); }

std::atomic<MathMode> g_math_mode{MathMode::FP32};

}  // namespace

void set_math_mode(MathMode mode) { g_math_mode.store(mode); }

MathMode math_mode() { return g_math_mode.load(); }

void synchronize() { fail("cuda::synchronize"); }

void conv2d_forward(const Conv2dGeometry&, const float*, const float*, const float*, float*) {
  fail("cuda::conv2d_forward");
}

void conv2d_backward_data(const Conv2dGeometry&, const float*, const float*, float*) {
  fail("cuda::conv2d_backward_data");
}

void conv2d_backward_weight(const Conv2dGeometry&, const float*, const float*, float*, float*) {
  fail("cuda::conv2d_backward_weight");
}

void conv2d_forward_cudnn(const Conv2dGeometry&, const float*, const float*, const float*, float*) {
  fail("cuda::conv2d_forward_cudnn");
}

void conv2d_backward_data_cudnn(const Conv2dGeometry&, const float*, const float*, float*) {
  fail("cuda::conv2d_backward_data_cudnn");
}

void conv2d_backward_weight_cudnn(const Conv2dGeometry&, const float*, const float*, float*,
                                  float*) {
  fail("cuda::conv2d_backward_weight_cudnn");
}

std::vector<ConvEngineChoice> conv_engine_choices() { return {}; }  // nothing ever ran

void linear_forward(std::int64_t, std::int64_t, std::int64_t, const float*, const float*,
                    const float*, float*) {
  fail("cuda::linear_forward");
}

void linear_backward_data(std::int64_t, std::int64_t, std::int64_t, const float*, const float*,
                          float*) {
  fail("cuda::linear_backward_data");
}

void linear_backward_weight(std::int64_t, std::int64_t, std::int64_t, const float*, const float*,
                            float*, float*) {
  fail("cuda::linear_backward_weight");
}

void conv2d_forward_kiln(const Conv2dGeometry&, const float*, const float*, const float*, float*) {
  fail("cuda::conv2d_forward_kiln");
}

void conv2d_backward_data_kiln(const Conv2dGeometry&, const float*, const float*, float*) {
  fail("cuda::conv2d_backward_data_kiln");
}

void conv2d_backward_weight_kiln(const Conv2dGeometry&, const float*, const float*, float*,
                                 float*) {
  fail("cuda::conv2d_backward_weight_kiln");
}

void gemm_kiln(GemmPrecision, bool, bool, std::int64_t, std::int64_t, std::int64_t, const float*,
               const float*, float*) {
  fail("cuda::gemm_kiln");
}

}  // namespace kiln::kernels::cuda
