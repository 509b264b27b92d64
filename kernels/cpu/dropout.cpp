// Inverted dropout. Whether element i is kept depends only on (seed, offset + i), never on which
// thread draws it, so the reference and the threaded path produce bitwise-identical masks.
#include "kernels/dropout.h"

#include <cstdint>

#include "kernels/random_bits.h"

namespace kiln::kernels::cpu {

namespace {
constexpr std::int64_t kMinParallel = 1 << 14;
}  // namespace

// NOTE: y is x * mask (one rounding), not x / (1 - p): the two agree bitwise only when 1 / (1 - p)
// is exact in T (p = 0, 0.5, 0.75, ...). Multiplying keeps forward and backward (gy * mask) alike.
template <typename T>
void dropout_forward_reference(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                               const T* x, T* y, T* mask) {
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
  for (std::int64_t i = 0; i < n; ++i) {
    const bool keep = random_uniform(seed, offset + static_cast<std::uint64_t>(i)) >= p;
    mask[i] = keep ? keep_scale : T(0);
    y[i] = x[i] * mask[i];
  }
}

template void dropout_forward_reference<float>(std::int64_t, double, std::uint64_t, std::uint64_t,
                                               const float*, float*, float*);
template void dropout_forward_reference<double>(std::int64_t, double, std::uint64_t, std::uint64_t,
                                                const double*, double*, double*);

void dropout_forward_fast(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                          const float* x, float* y, float* mask) {
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
#pragma omp parallel for simd if (n >= kMinParallel)
  for (std::int64_t i = 0; i < n; ++i) {
    const bool keep = random_uniform(seed, offset + static_cast<std::uint64_t>(i)) >= p;
    mask[i] = keep ? keep_scale : 0.f;
    y[i] = x[i] * mask[i];
  }
}

}  // namespace kiln::kernels::cpu
