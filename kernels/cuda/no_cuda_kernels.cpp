// The hand-written CUDA kernels' entry points for builds without the CUDA backend (KILN_CUDA=OFF
// or no nvcc): every one throws, naming itself and the reason, and never falls back to the CPU.
#include <cstdint>

#include "base/error.h"
#include "kernels/augment.h"
#include "kernels/batch_norm.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/pool2d.h"

namespace kiln::kernels::cuda {
namespace {

constexpr const char* kReason = "Kiln was built without CUDA (KILN_CUDA=OFF or no nvcc)";

[[noreturn]] void fail(const char* what) { KILN_FAIL(what, ": ", kReason); }

}  // namespace

void add(std::int64_t, const float*, const float*, float*) { fail("cuda::add"); }
void mul(std::int64_t, const float*, const float*, float*) { fail("cuda::mul"); }
void scale(std::int64_t, const float*, float, float*) { fail("cuda::scale"); }
void axpy(std::int64_t, float, const float*, float*) { fail("cuda::axpy"); }
double sum(std::int64_t, const float*) { fail("cuda::sum"); }
void relu_forward(std::int64_t, const float*, float*) { fail("cuda::relu_forward"); }
void relu_backward(std::int64_t, const float*, const float*, float*) {
  fail("cuda::relu_backward");
}

void max_pool2d_forward(const Pool2dGeometry&, const float*, float*, std::int32_t*) {
  fail("cuda::max_pool2d_forward");
}
void max_pool2d_backward(const Pool2dGeometry&, const float*, const std::int32_t*, float*) {
  fail("cuda::max_pool2d_backward");
}

double softmax_cross_entropy_forward(std::int64_t, std::int64_t, const float*, const std::int32_t*,
                                     const float*, float*) {
  fail("cuda::softmax_cross_entropy_forward");
}
void softmax_cross_entropy_backward(std::int64_t, std::int64_t, const float*, const std::int32_t*,
                                    const float*, float, float*) {
  fail("cuda::softmax_cross_entropy_backward");
}
void count_correct(std::int64_t, std::int64_t, const float*, const std::int32_t*, std::int64_t*) {
  fail("cuda::count_correct");
}

void dropout_forward(std::int64_t, double, std::uint64_t, std::uint64_t, const float*, float*,
                     float*) {
  fail("cuda::dropout_forward");
}

void adam_update(std::int64_t, const AdamScalars&, const float*, float*, float*, float*) {
  fail("cuda::adam_update");
}
void sgd_update(std::int64_t, const SgdScalars&, const float*, float*, float*) {
  fail("cuda::sgd_update");
}
void adam_update_multi(const AdamTensor*, std::int64_t, const AdamScalars&) {
  fail("cuda::adam_update_multi");
}

void augment_preprocess(std::int64_t, int, int, const std::uint8_t*, const AffineTransform*,
                        float*) {
  fail("cuda::augment_preprocess");
}

void batch_norm_stats(std::int64_t, std::int64_t, std::int64_t, const float*, float*, float*,
                      double, float*, float*) {
  fail("cuda::batch_norm_stats");
}
void batch_norm_forward(std::int64_t, std::int64_t, std::int64_t, double, const float*,
                        const float*, const float*, const float*, const float*, float*) {
  fail("cuda::batch_norm_forward");
}
void batch_norm_backward(std::int64_t, std::int64_t, std::int64_t, double, bool, const float*,
                         const float*, const float*, const float*, const float*, float*, float*,
                         float*) {
  fail("cuda::batch_norm_backward");
}

}  // namespace kiln::kernels::cuda
