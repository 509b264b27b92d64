// Dense-layer kernels: plain loops as the reference, OpenBLAS sgemm as the fast path.
// All matrices are row-major; the weight keeps Keras' (in, out) layout, so no transposed copy is
// ever made: the backward passes ask sgemm to read w or x transposed instead.
#include "kernels/linear.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>

namespace kiln::kernels::cpu {

template <typename T>
void linear_forward_reference(std::int64_t m, std::int64_t k, std::int64_t n, const T* x,
                              const T* w, const T* b, T* y) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      T acc = b ? b[j] : T(0);
      for (std::int64_t p = 0; p < k; ++p) acc += x[i * k + p] * w[p * n + j];
      y[i * n + j] = acc;
    }
  }
}

template <typename T>
void linear_backward_data_reference(std::int64_t m, std::int64_t k, std::int64_t n, const T* gy,
                                    const T* w, T* gx) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t p = 0; p < k; ++p) {
      T acc = 0;
      for (std::int64_t j = 0; j < n; ++j) acc += gy[i * n + j] * w[p * n + j];
      gx[i * k + p] = acc;
    }
  }
}

template <typename T>
void linear_backward_weight_reference(std::int64_t m, std::int64_t k, std::int64_t n, const T* x,
                                      const T* gy, T* gw, T* gb) {
  for (std::int64_t p = 0; p < k; ++p) {
    for (std::int64_t j = 0; j < n; ++j) {
      T acc = 0;
      for (std::int64_t i = 0; i < m; ++i) acc += x[i * k + p] * gy[i * n + j];
      gw[p * n + j] = acc;
    }
  }
  if (!gb) return;
  for (std::int64_t j = 0; j < n; ++j) {
    T acc = 0;
    for (std::int64_t i = 0; i < m; ++i) acc += gy[i * n + j];
    gb[j] = acc;
  }
}

#define KILN_INSTANTIATE_LINEAR(T)                                                              \
  template void linear_forward_reference<T>(std::int64_t, std::int64_t, std::int64_t, const T*, \
                                            const T*, const T*, T*);                            \
  template void linear_backward_data_reference<T>(std::int64_t, std::int64_t, std::int64_t,     \
                                                  const T*, const T*, T*);                      \
  template void linear_backward_weight_reference<T>(std::int64_t, std::int64_t, std::int64_t,   \
                                                    const T*, const T*, T*, T*);
KILN_INSTANTIATE_LINEAR(float)
KILN_INSTANTIATE_LINEAR(double)
#undef KILN_INSTANTIATE_LINEAR

// NOTE: cblas takes int dimensions; Dense layers are far below 2^31 in every dimension.
void linear_forward_blas(std::int64_t m, std::int64_t k, std::int64_t n, const float* x,
                         const float* w, const float* b, float* y) {
  if (m == 0 || n == 0) return;
  // Seed y with the bias rows, then let sgemm accumulate x @ w on top (beta = 1). With no bias,
  // beta = 0 makes sgemm ignore whatever y held (even NaN), so y needs no clearing.
  float beta = 0.f;
  if (b) {
#pragma omp parallel for
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) y[i * n + j] = b[j];
    beta = 1.f;
  }
  if (k == 0) {
    if (!b)
      for (std::int64_t i = 0; i < m * n; ++i) y[i] = 0.f;
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.f, x, int(k), w,
              int(n), beta, y, int(n));
}

void linear_backward_data_blas(std::int64_t m, std::int64_t k, std::int64_t n, const float* gy,
                               const float* w, float* gx) {
  if (m == 0 || k == 0) return;
  if (n == 0) {
    for (std::int64_t i = 0; i < m * k; ++i) gx[i] = 0.f;
    return;
  }
  // gx (M,K) = gy (M,N) @ w^T, w stored (K,N) with leading dimension N.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(k), int(n), 1.f, gy, int(n), w,
              int(n), 0.f, gx, int(k));
}

void linear_backward_weight_blas(std::int64_t m, std::int64_t k, std::int64_t n, const float* x,
                                 const float* gy, float* gw, float* gb) {
  if (k > 0 && n > 0) {
    if (m == 0) {
      for (std::int64_t i = 0; i < k * n; ++i) gw[i] = 0.f;
    } else {
      // gw (K,N) = x^T @ gy, x stored (M,K) with leading dimension K.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(k), int(n), int(m), 1.f, x, int(k),
                  gy, int(n), 0.f, gw, int(n));
    }
  }
  if (!gb) return;
  // Column sums: each thread owns a block of columns and walks the rows in order, so every gb[j]
  // has one writer, reads stay contiguous, and the sum order (hence the result) matches the
  // reference whatever the thread count.
  constexpr std::int64_t kColumnBlock = 64;
#pragma omp parallel for
  for (std::int64_t j0 = 0; j0 < n; j0 += kColumnBlock) {
    const std::int64_t j1 = std::min(n, j0 + kColumnBlock);
    for (std::int64_t j = j0; j < j1; ++j) gb[j] = 0.f;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = j0; j < j1; ++j) gb[j] += gy[i * n + j];
  }
}

}  // namespace kiln::kernels::cpu
