// Per-channel NCHW bias add and bias gradient on the CPU; see kernels/bias.h. The reference is
// the plain loop nest; the fast path threads over (n, k) planes (add) or channels (gradient) and
// vectorises the contiguous HW run inside each.
#include "kernels/bias.h"

#include <cstdint>

namespace kiln::kernels::cpu {

namespace {
// Below this many elements a parallel region costs more than it saves; run on one thread.
constexpr std::int64_t kMinParallel = 1 << 15;
}  // namespace

template <typename T>
void bias_add_nchw_reference(std::int64_t n, std::int64_t k, std::int64_t hw, const T* b, T* y) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < k; ++c)
      for (std::int64_t j = 0; j < hw; ++j) y[(i * k + c) * hw + j] += b[c];
}

template <typename T>
void bias_grad_nchw_reference(std::int64_t n, std::int64_t k, std::int64_t hw, const T* gy, T* gb) {
  for (std::int64_t c = 0; c < k; ++c) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < hw; ++j) sum += static_cast<double>(gy[(i * k + c) * hw + j]);
    gb[c] = static_cast<T>(sum);
  }
}

#define KILN_INSTANTIATE_BIAS(T)                                                               \
  template void bias_add_nchw_reference<T>(std::int64_t, std::int64_t, std::int64_t, const T*, \
                                           T*);                                                \
  template void bias_grad_nchw_reference<T>(std::int64_t, std::int64_t, std::int64_t, const T*, T*);
KILN_INSTANTIATE_BIAS(float)
KILN_INSTANTIATE_BIAS(double)
#undef KILN_INSTANTIATE_BIAS

void bias_add_nchw_fast(std::int64_t n, std::int64_t k, std::int64_t hw, const float* b, float* y) {
  const std::int64_t planes = n * k;
#pragma omp parallel for if (planes * hw >= kMinParallel)
  for (std::int64_t plane = 0; plane < planes; ++plane) {
    const float bias = b[plane % k];
    float* yp = y + plane * hw;  // (HW)
#pragma omp simd
    for (std::int64_t j = 0; j < hw; ++j) yp[j] += bias;
  }
}

// NOTE: threads split the channels, never one channel's sum, so no cross-thread reduction (and no
// dependence of the result on the thread count); with few channels and large maps (VGG's first
// block at 224 px: 64 channels of 16 x 50176 values) that still gives every thread work.
void bias_grad_nchw_fast(std::int64_t n, std::int64_t k, std::int64_t hw, const float* gy,
                         float* gb) {
#pragma omp parallel for if (n * k * hw >= kMinParallel)
  for (std::int64_t c = 0; c < k; ++c) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const float* gp = gy + (i * k + c) * hw;  // (HW)
#pragma omp simd reduction(+ : sum)
      for (std::int64_t j = 0; j < hw; ++j) sum += static_cast<double>(gp[j]);
    }
    gb[c] = static_cast<float>(sum);
  }
}

}  // namespace kiln::kernels::cpu
