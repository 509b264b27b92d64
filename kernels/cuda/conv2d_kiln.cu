// conv2d on Kiln's own implicit-GEMM kernels (kernels/implicit_gemm.h defines the three problems,
// kernels/cuda/implicit_gemm.cuh runs them): exact FP32 on CUDA cores, or TF32 tensor cores when
// math_mode() is TF32. Outputs are overwritten, never accumulated (kernels/conv2d.h). Results are
// deterministic: no atomics, and the split-K layout depends only on the geometry.
//
// Empty cases need no special path: a GEMM with depth 0 stores its empty sums, so C == 0 gives
// y = bias (or 0), K == 0 gives gx = 0 and N == 0 gives gw = 0 (and gb = 0 below).
#include <cstdint>

#include "base/error.h"
#include "kernels/bias.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/implicit_gemm.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/implicit_gemm.h"

namespace kiln::kernels::cuda {
namespace {

// The problems index with int (see implicit_gemm.h): every dimension, every per-image product and
// the three GEMM sides must fit (kiln_engine_fits). Whole tensors may be larger; their offsets are
// 64-bit.
ConvShape checked_shape(const Conv2dGeometry& g) {
  std::int64_t too_large = 0;
  KILN_CHECK(kiln_engine_fits(g, &too_large), "conv2d (Kiln engine): a size of ", too_large,
             " exceeds the kernels' 32-bit indexing for x [", g.n, ",", g.c, ",", g.h, ",", g.w,
             "] w [", g.k, ",", g.c, ",", g.r, ",", g.s, "]");
  return make_conv_shape(g);
}

bool tf32() { return math_mode() == MathMode::TF32; }

}  // namespace

void conv2d_forward_kiln(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                         float* y) {
  if (g.n * g.k * g.p() * g.q() == 0) return;
  const ConvShape d = checked_shape(g);
  DeviceLease lease;
  detail::run_implicit_gemm(ConvForwardProblem<float>(d, x, w, b, y), tf32(), lease);
}

void conv2d_backward_data_kiln(const Conv2dGeometry& g, const float* gy, const float* w,
                               float* gx) {
  if (g.n * g.c * g.h * g.w == 0) return;
  const ConvShape d = checked_shape(g);
  DeviceLease lease;
  detail::run_implicit_gemm(ConvBackwardDataProblem<float>(d, gy, w, gx), tf32(), lease);
}

void conv2d_backward_weight_kiln(const Conv2dGeometry& g, const float* x, const float* gy,
                                 float* gw, float* gb) {
  const bool bias = gb != nullptr && g.k > 0;
  if (g.k * g.c * g.r * g.s == 0 && !bias) return;
  const ConvShape d = checked_shape(g);
  DeviceLease lease;
  detail::run_implicit_gemm(ConvBackwardWeightProblem<float>(d, x, gy, gw), tf32(), lease);
  // gb: Kiln's per-channel reduction (kernels/bias.h), deterministic like the GEMM above.
  if (bias) bias_grad_nchw(g.n, g.k, g.p() * g.q(), gy, gb);
}

}  // namespace kiln::kernels::cuda
