// Per-channel bias of an NCHW tensor, as a convolution's output carries it: the forward adds
// b[k] to every element of channel k, the backward sums the gradient over everything the bias
// was broadcast to. y and gy are (N, K, HW) with HW = P * Q; b and gb are (K).
// bias_add ACCUMULATES into y (it runs after the convolution wrote y); bias_grad OVERWRITES gb
// (an empty sum, N == 0 or HW == 0, writes 0). Nothing aliases.
#pragma once

#include <cstdint>

namespace kiln::kernels {

namespace cpu {

// y (N,K,HW) += b (K), broadcast over N and HW.
template <typename T>
void bias_add_nchw_reference(std::int64_t n, std::int64_t k, std::int64_t hw, const T* b, T* y);
// gb (K) = sum of gy (N,K,HW) over N and HW, accumulated in double in (n, hw) order.
template <typename T>
void bias_grad_nchw_reference(std::int64_t n, std::int64_t k, std::int64_t hw, const T* gy, T* gb);

// OpenMP, float only, same contracts. bias_add is bitwise equal to the reference (one add per
// element); bias_grad sums each channel in double in another order, so it agrees to double
// rounding before the final rounding to float.
void bias_add_nchw_fast(std::int64_t n, std::int64_t k, std::int64_t hw, const float* b, float* y);
void bias_grad_nchw_fast(std::int64_t n, std::int64_t k, std::int64_t hw, const float* gy,
                         float* gb);

}  // namespace cpu

// CUDA twins, Kiln's own kernels (cuDNN's cudnnAddTensor / cudnnConvolutionBackwardBias are only
// the benchmark rivals), same contracts. bias_add is bitwise equal to the CPU. bias_grad sums in
// float in an order fixed by the shape alone (one block per channel, no atomics), so its bits
// repeat run to run but differ from the CPU's double sum by float rounding.
namespace cuda {
void bias_add_nchw(std::int64_t n, std::int64_t k, std::int64_t hw, const float* b, float* y);
void bias_grad_nchw(std::int64_t n, std::int64_t k, std::int64_t hw, const float* gy, float* gb);
}  // namespace cuda

}  // namespace kiln::kernels
