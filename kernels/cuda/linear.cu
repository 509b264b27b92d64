// Dense-layer kernels on cuBLAS: y = x @ w + b with x (M,K), w (K,N) in Keras' layout, all
// row-major. Outputs are overwritten (GEMMs run with beta = 0, which cuBLAS documents as not
// reading C); nothing aliases (kernels/linear.h).
//
// Row-major through a column-major BLAS: a row-major (R,C) matrix is, byte for byte, the
// column-major (C,R) matrix of its transpose. So each row-major product C = A @ B is computed as
// the column-major C^T = B^T @ A^T, i.e. cublasSgemm with the operands swapped and each leading
// dimension equal to the row-major row length. The math mode (exact FP32 or TF32) is on the
// handle, set by the lease (kernels/cuda/runtime.h). The bias add and the bias gradient are
// Kiln's own kernels (linear_kernels.cuh, run on the CPU by the emulated tests).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/linear_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/linear.h"

namespace kiln::kernels::cuda {
namespace {

void check_dims(const char* op, std::int64_t m, std::int64_t k, std::int64_t n) {
  KILN_CHECK(m >= 0 && k >= 0 && n >= 0 && m <= INT_MAX && k <= INT_MAX && n <= INT_MAX, op,
             " on CUDA: M = ", m, ", K = ", k, ", N = ", n,
             " must each be in [0, 2^31) (cuBLAS takes int dimensions)");
}

void zero(float* ptr, std::int64_t count, cudaStream_t s) {
  if (count > 0) CUDA_CHECK(cudaMemsetAsync(ptr, 0, sizeof(float) * count, s));
}

}  // namespace

void linear_forward(std::int64_t m, std::int64_t k, std::int64_t n, const float* x, const float* w,
                    const float* b, float* y) {
  check_dims("linear_forward", m, k, n);
  if (m == 0 || n == 0) return;  // y is empty
  DeviceLease lease;
  if (k == 0) {  // empty sums: y = b, or 0
    zero(y, m * n, lease.stream());
  } else {
    // Column-major: y^T (N,M) = w^T (N,K) @ x^T (K,M); w^T is w's buffer with ld N, x^T is x's
    // with ld K, y^T is y's with ld N.
    const float one = 1.f, zero_f = 0.f;
    CUBLAS_CHECK(cublasSgemm(lease.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n),
                             static_cast<int>(m), static_cast<int>(k), &one, w, static_cast<int>(n),
                             x, static_cast<int>(k), &zero_f, y, static_cast<int>(n)));
  }
  if (b != nullptr) detail::queue_linear_add_bias(detail::StreamLaunch{lease.stream()}, y, b, m, n);
}

void linear_backward_data(std::int64_t m, std::int64_t k, std::int64_t n, const float* gy,
                          const float* w, float* gx) {
  check_dims("linear_backward_data", m, k, n);
  if (m == 0 || k == 0) return;  // gx is empty
  DeviceLease lease;
  if (n == 0) {
    zero(gx, m * k, lease.stream());
    return;
  }
  // gx = gy @ w^T. Column-major: gx^T (K,M) = w (K,N) @ gy^T (N,M). w's buffer read column-major
  // with ld N is w^T (N,K), so it enters transposed; gy's buffer with ld N is gy^T as it stands.
  const float one = 1.f, zero_f = 0.f;
  CUBLAS_CHECK(cublasSgemm(lease.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(k),
                           static_cast<int>(m), static_cast<int>(n), &one, w, static_cast<int>(n),
                           gy, static_cast<int>(n), &zero_f, gx, static_cast<int>(k)));
}

void linear_backward_weight(std::int64_t m, std::int64_t k, std::int64_t n, const float* x,
                            const float* gy, float* gw, float* gb) {
  check_dims("linear_backward_weight", m, k, n);
  if (n == 0) return;  // gw and gb are empty
  DeviceLease lease;
  if (m == 0) {  // an empty batch: both gradients are empty sums
    zero(gw, k * n, lease.stream());
    if (gb != nullptr) zero(gb, n, lease.stream());
    return;
  }
  if (k > 0) {
    // gw = x^T @ gy. Column-major: gw^T (N,K) = gy^T (N,M) @ x (M,K). gy's buffer with ld N is
    // gy^T as it stands; x's buffer with ld K is x^T (K,M), so it enters transposed.
    const float one = 1.f, zero_f = 0.f;
    CUBLAS_CHECK(cublasSgemm(lease.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(n),
                             static_cast<int>(k), static_cast<int>(m), &one, gy,
                             static_cast<int>(n), x, static_cast<int>(k), &zero_f, gw,
                             static_cast<int>(n)));
  }
  if (gb != nullptr)
    detail::queue_linear_bias_gradient(detail::StreamLaunch{lease.stream()}, gy, m, n, gb);
}

}  // namespace kiln::kernels::cuda
