// Inverted dropout: each element is kept with probability 1 - p and scaled by 1 / (1 - p), so
// evaluation needs no rescaling. Element i is kept when random_uniform(seed, offset + i) >= p,
// the same on every device and thread count (see random_bits.h).
#pragma once

#include <cstdint>

#include "kernels/kernel_family.h"

namespace kiln::kernels::cpu {

// y = x * mask, mask[i] in {0, 1 / (1 - p)}; both overwritten. Requires 0 <= p < 1.
template <typename T>
void dropout_forward_reference(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                               const T* x, T* y, T* mask);
void dropout_forward_fast(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                          const float* x, float* y, float* mask);

}  // namespace kiln::kernels::cpu

// CUDA twin: the same mask, element for element, as the CPU's for the same (seed, offset).
namespace kiln::kernels::cuda {
void dropout_forward(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                     const float* x, float* y, float* mask);
}  // namespace kiln::kernels::cuda

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(DropoutForward, cpu::dropout_forward_fast, cpu::dropout_forward_reference,
                   cuda::dropout_forward);
}  // namespace kiln::kernels
