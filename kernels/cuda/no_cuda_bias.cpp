// The NCHW bias kernels' CUDA entry points for builds without the CUDA backend (KILN_CUDA=OFF or
// no nvcc): each throws, naming itself and the reason, and never falls back to the CPU.
#include <cstdint>

#include "base/error.h"
#include "kernels/bias.h"

namespace kiln::kernels::cuda {
namespace {

constexpr const char* kReason = "Kiln was built without CUDA (KILN_CUDA=OFF or no nvcc)";

[[noreturn]] void fail(const char* what) { KILN_FAIL(what, ": ", kReason); }

}  // namespace

void bias_add_nchw(std::int64_t, std::int64_t, std::int64_t, const float*, float*) {
  fail("cuda::bias_add_nchw");
}
void bias_grad_nchw(std::int64_t, std::int64_t, std::int64_t, const float*, float*) {
  fail("cuda::bias_grad_nchw");
}

}  // namespace kiln::kernels::cuda
