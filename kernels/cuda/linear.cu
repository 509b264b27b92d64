// Dense-layer kernels on cuBLAS: y = x @ w + b with x (M,K), w (K,N) in Keras' layout, all
// row-major. Outputs are overwritten (GEMMs run with beta = 0, which cuBLAS documents as not
// reading C); nothing aliases (kernels/linear.h).
//
// Row-major through a column-major BLAS: a row-major (R,C) matrix is, byte for byte, the
// column-major (C,R) matrix of its transpose. So each row-major product C = A @ B is computed as
// the column-major C^T = B^T @ A^T, i.e. cublasSgemm with the operands swapped and each leading
// dimension equal to the row-major row length. The math mode (exact FP32 or TF32) is on the
// handle, set by the lease (kernels/cuda/runtime.h).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/linear.h"

namespace kiln::kernels::cuda {
namespace {

// y (M,N) += b (N), broadcast over rows. Grid-stride, so any M*N fits a bounded grid.
__global__ void add_bias_kernel(float* y, const float* b, std::int64_t m, std::int64_t n) {
  const std::int64_t total = m * n;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    y[i] += b[i % n];
  }
}

// gb (N) = column sums of gy (M,N). One block per tile of kTileCols columns, no atomics: each
// column is summed by one block alone, so the result is the same bit for bit on every run, and
// gb is written, never accumulated into, which is the kernel contract.
//   threadIdx.x: the column within the tile (a warp reads 32 consecutive floats of one row:
//                coalesced);
//   threadIdx.y: one of kRowLanes lanes, each summing every kRowLanes-th row serially in float;
// then a shared-memory tree adds the kRowLanes partial sums (log2(kRowLanes) levels). Float is
// enough: a batch has at most a few thousand rows, so each serial sum has at most a few hundred
// terms and rounding stays near 1e-5 relative; splitting the rows over lanes and finishing with a
// tree keeps the error lower than one long running sum would, without double's cost on GPUs.
constexpr int kTileCols = 32;
constexpr int kRowLanes = 8;

__global__ void bias_gradient_kernel(const float* gy, std::int64_t m, std::int64_t n, float* gb) {
  __shared__ float partial[kRowLanes][kTileCols];  // [lane][column in tile]
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kTileCols + threadIdx.x;
  float sum = 0.f;
  if (col < n) {
    for (std::int64_t row = threadIdx.y; row < m; row += kRowLanes) sum += gy[row * n + col];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  for (int half = kRowLanes / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half) {
      partial[threadIdx.y][threadIdx.x] += partial[threadIdx.y + half][threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && col < n) gb[col] = partial[0][threadIdx.x];
}

void check_dims(const char* op, std::int64_t m, std::int64_t k, std::int64_t n) {
  KILN_CHECK(m >= 0 && k >= 0 && n >= 0 && m <= INT_MAX && k <= INT_MAX && n <= INT_MAX, op,
             " on CUDA: M = ", m, ", K = ", k, ", N = ", n,
             " must each be in [0, 2^31) (cuBLAS takes int dimensions)");
}

void zero(float* ptr, std::int64_t count, cudaStream_t s) {
  if (count > 0) CUDA_CHECK(cudaMemsetAsync(ptr, 0, sizeof(float) * count, s));
}

void add_bias(float* y, const float* b, std::int64_t m, std::int64_t n, cudaStream_t s) {
  constexpr int kThreads = 256;
  constexpr std::int64_t kMaxBlocks = 4096;  // enough to fill any current GPU; the loop does more
  const int blocks =
      static_cast<int>(std::min<std::int64_t>((m * n + kThreads - 1) / kThreads, kMaxBlocks));
  add_bias_kernel<<<blocks, kThreads, 0, s>>>(y, b, m, n);
  KILN_LAUNCH_CHECK();
}

void bias_gradient(const float* gy, std::int64_t m, std::int64_t n, float* gb, cudaStream_t s) {
  const dim3 block(kTileCols, kRowLanes);
  const dim3 grid(static_cast<unsigned>((n + kTileCols - 1) / kTileCols));
  bias_gradient_kernel<<<grid, block, 0, s>>>(gy, m, n, gb);
  KILN_LAUNCH_CHECK();
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
  if (b != nullptr) add_bias(y, b, m, n, lease.stream());
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
  if (gb != nullptr) bias_gradient(gy, m, n, gb, lease.stream());
}

}  // namespace kiln::kernels::cuda
