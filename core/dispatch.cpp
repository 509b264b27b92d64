#include "core/dispatch.h"

#include <cstdlib>
#include <cstring>

namespace kiln {

namespace {
CpuEngine engine_from_environment() {
  const char* e = std::getenv("KILN_CPU_ENGINE");
  return e && std::strcmp(e, "reference") == 0 ? CpuEngine::Reference : CpuEngine::Fast;
}
CpuEngine g_engine = engine_from_environment();
}  // namespace

CpuEngine cpu_engine() { return g_engine; }
void set_cpu_engine(CpuEngine engine) { g_engine = engine; }

void no_kernel(const char* op, const Tensor& t) {
  KILN_FAIL(op, ": no ", device_name(t.device()), " kernel for ", dtype_name(t.dtype()),
            " tensors (input ", t.shape(), ")");
}

void no_cuda_build(const char* op, const Tensor& t) {
  KILN_FAIL(op, ": a CUDA tensor ", t.shape(), ", but ", kernels::cuda::kNotBuiltReason);
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.shape() == b.shape(), op, ": shapes ", a.shape(), " and ", b.shape(), " differ");
}

void check_same_dtype_device(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.dtype() == b.dtype(), op, ": dtypes ", a.dtype(), " and ", b.dtype(), " differ (",
             a.shape(), " and ", b.shape(), ")");
  KILN_CHECK(a.device() == b.device(), op, ": tensors ", a.shape(), " on ", a.device(), " and ",
             b.shape(), " on ", b.device(), " are on different devices");
}

void check_floating(const char* op, const Tensor& t) {
  KILN_CHECK(is_floating(t.dtype()), op, ": needs a floating-point tensor, got ", t.dtype(), " ",
             t.shape());
}

}  // namespace kiln
