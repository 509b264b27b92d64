// Elementwise kernels and reductions over n contiguous elements. Outputs are overwritten unless
// the name says otherwise (axpy accumulates). In-place use (y == a) is allowed where stated.
#pragma once

#include <cstdint>

#include "kernels/kernel_family.h"

namespace kiln::kernels::cpu {

// y = a + b; y may alias a or b.
template <typename T>
void add_reference(std::int64_t n, const T* a, const T* b, T* y);
// y = a * b; y may alias a or b.
template <typename T>
void mul_reference(std::int64_t n, const T* a, const T* b, T* y);
// y = s * a; y may alias a.
template <typename T>
void scale_reference(std::int64_t n, const T* a, T s, T* y);
// y += alpha * x (accumulates: this is how gradients add up).
template <typename T>
void axpy_reference(std::int64_t n, T alpha, const T* x, T* y);
// Sum of all elements, accumulated in double whatever T is.
template <typename T>
double sum_reference(std::int64_t n, const T* a);
// y = max(x, 0); y may alias x. NaN propagates (relu(NaN) is NaN, so divergence stays visible).
template <typename T>
void relu_forward_reference(std::int64_t n, const T* x, T* y);
// gx = gy where y > 0, else 0. NOTE: at x == 0 the gradient is taken as 0 (as PyTorch does).
template <typename T>
void relu_backward_reference(std::int64_t n, const T* y, const T* gy, T* gx);

// OpenMP versions for float, same contracts.
void add_fast(std::int64_t n, const float* a, const float* b, float* y);
void mul_fast(std::int64_t n, const float* a, const float* b, float* y);
void scale_fast(std::int64_t n, const float* a, float s, float* y);
void axpy_fast(std::int64_t n, float alpha, const float* x, float* y);
double sum_fast(std::int64_t n, const float* a);
void relu_forward_fast(std::int64_t n, const float* x, float* y);
void relu_backward_fast(std::int64_t n, const float* y, const float* gy, float* gx);

}  // namespace kiln::kernels::cpu

// CUDA twins (device pointers), same contracts. sum returns to the host (it synchronises).
namespace kiln::kernels::cuda {
void add(std::int64_t n, const float* a, const float* b, float* y);
void mul(std::int64_t n, const float* a, const float* b, float* y);
void scale(std::int64_t n, const float* a, float s, float* y);
void axpy(std::int64_t n, float alpha, const float* x, float* y);
double sum(std::int64_t n, const float* a);
void relu_forward(std::int64_t n, const float* x, float* y);
void relu_backward(std::int64_t n, const float* y, const float* gy, float* gx);
}  // namespace kiln::kernels::cuda

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(Add, cpu::add_fast, cpu::add_reference, cuda::add);
KILN_KERNEL_FAMILY(Mul, cpu::mul_fast, cpu::mul_reference, cuda::mul);
KILN_KERNEL_FAMILY(Scale, cpu::scale_fast, cpu::scale_reference, cuda::scale);
KILN_KERNEL_FAMILY(Axpy, cpu::axpy_fast, cpu::axpy_reference, cuda::axpy);
KILN_KERNEL_FAMILY(Sum, cpu::sum_fast, cpu::sum_reference, cuda::sum);
KILN_KERNEL_FAMILY(ReluForward, cpu::relu_forward_fast, cpu::relu_forward_reference,
                   cuda::relu_forward);
KILN_KERNEL_FAMILY(ReluBackward, cpu::relu_backward_fast, cpu::relu_backward_reference,
                   cuda::relu_backward);
}  // namespace kiln::kernels
