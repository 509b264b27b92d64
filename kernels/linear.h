// Dense-layer kernels. The weight keeps Keras' layout (in, out), so y = x @ w + b with
// x (M, K), w (K, N), b (N), y (M, N). Outputs are overwritten; nothing aliases.
#pragma once

#include <cstdint>

#include "kernels/kernel_family.h"

namespace kiln::kernels::cpu {

// y (M,N) = x (M,K) @ w (K,N) + b (N); b may be null.
template <typename T>
void linear_forward_reference(std::int64_t m, std::int64_t k, std::int64_t n, const T* x,
                              const T* w, const T* b, T* y);
// gx (M,K) = gy (M,N) @ w^T
template <typename T>
void linear_backward_data_reference(std::int64_t m, std::int64_t k, std::int64_t n, const T* gy,
                                    const T* w, T* gx);
// gw (K,N) = x^T @ gy; gb (N) = column sums of gy; gb may be null.
template <typename T>
void linear_backward_weight_reference(std::int64_t m, std::int64_t k, std::int64_t n, const T* x,
                                      const T* gy, T* gw, T* gb);

// The same three on BLAS sgemm (float only).
void linear_forward_blas(std::int64_t m, std::int64_t k, std::int64_t n, const float* x,
                         const float* w, const float* b, float* y);
void linear_backward_data_blas(std::int64_t m, std::int64_t k, std::int64_t n, const float* gy,
                               const float* w, float* gx);
void linear_backward_weight_blas(std::int64_t m, std::int64_t k, std::int64_t n, const float* x,
                                 const float* gy, float* gw, float* gb);

}  // namespace kiln::kernels::cpu

// CUDA twins on cuBLAS (row-major handled by swapping operands); bias add and bias gradient are
// Kiln's own kernels.
namespace kiln::kernels::cuda {
void linear_forward(std::int64_t m, std::int64_t k, std::int64_t n, const float* x, const float* w,
                    const float* b, float* y);
void linear_backward_data(std::int64_t m, std::int64_t k, std::int64_t n, const float* gy,
                          const float* w, float* gx);
void linear_backward_weight(std::int64_t m, std::int64_t k, std::int64_t n, const float* x,
                            const float* gy, float* gw, float* gb);
}  // namespace kiln::kernels::cuda

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(LinearForward, cpu::linear_forward_blas, cpu::linear_forward_reference,
                   cuda::linear_forward);
KILN_KERNEL_FAMILY(LinearBackwardData, cpu::linear_backward_data_blas,
                   cpu::linear_backward_data_reference, cuda::linear_backward_data);
KILN_KERNEL_FAMILY(LinearBackwardWeight, cpu::linear_backward_weight_blas,
                   cpu::linear_backward_weight_reference, cuda::linear_backward_weight);
}  // namespace kiln::kernels
