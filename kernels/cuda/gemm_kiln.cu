// gemm_kiln: a plain row-major matrix product on the implicit-GEMM kernels
// (kernels/cuda/implicit_gemm.cuh), the problem's loads doing the optional transposes.
#include <climits>
#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/implicit_gemm.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"
#include "kernels/implicit_gemm.h"

namespace kiln::kernels::cuda {

void gemm_kiln(GemmPrecision precision, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
               std::int64_t k, const float* a, const float* b, float* c) {
  KILN_CHECK(m >= 0 && n >= 0 && k >= 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             "gemm_kiln: sizes M = ", m, ", N = ", n, ", K = ", k,
             " must be non-negative and fit the kernels' 32-bit indexing");
  if (m == 0 || n == 0) return;
  const MatrixProductProblem<float> problem{
      a, b, c, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), trans_a, trans_b};
  DeviceLease lease;
  // k == 0 needs nothing special: every element of c is then stored as the empty sum 0.
  detail::run_implicit_gemm(problem, precision == GemmPrecision::TF32, lease);
}

}  // namespace kiln::kernels::cuda
