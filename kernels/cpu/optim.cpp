// Optimiser updates, one parameter tensor per call, in place. The optimiser folds the step count
// into AdamScalars / SgdScalars once per step, so these loops hold only per-element arithmetic
// and are the same for Keras and PyTorch conventions (see optim.h).
// Both paths do the same operations in the same order in T; the fast one only adds threads and
// SIMD, which do not reorder anything within an element.
#include "kernels/optim.h"

#include <cmath>
#include <cstdint>

#include "base/error.h"

namespace kiln::kernels::cpu {

namespace {
constexpr std::int64_t kMinParallel = 1 << 14;
}  // namespace

// NOTE: the moments update as m += (g - m)(1 - beta1), Keras' form; it equals
// beta1 * m + (1 - beta1) * g in exact arithmetic but rounds differently.
template <typename T>
void adam_update_reference(std::int64_t n, const AdamScalars& s, const T* grad, T* m, T* v,
                           T* param) {
  const T one_minus_b1 = T(1) - static_cast<T>(s.beta1);
  const T one_minus_b2 = T(1) - static_cast<T>(s.beta2);
  const T step = static_cast<T>(s.step_size), eps = static_cast<T>(s.eps_hat);
  const T decay = static_cast<T>(s.decay);
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    m[i] += (g - m[i]) * one_minus_b1;
    v[i] += (g * g - v[i]) * one_minus_b2;
    param[i] -= decay * param[i];
    param[i] -= step * m[i] / (std::sqrt(v[i]) + eps);
  }
}

void adam_update_fast(std::int64_t n, const AdamScalars& s, const float* grad, float* m, float* v,
                      float* param) {
  const float one_minus_b1 = 1.f - static_cast<float>(s.beta1);
  const float one_minus_b2 = 1.f - static_cast<float>(s.beta2);
  const float step = static_cast<float>(s.step_size), eps = static_cast<float>(s.eps_hat);
  const float decay = static_cast<float>(s.decay);
#pragma omp parallel for simd if (n >= kMinParallel)
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    m[i] += (g - m[i]) * one_minus_b1;
    v[i] += (g * g - v[i]) * one_minus_b2;
    param[i] -= decay * param[i];
    param[i] -= step * m[i] / (std::sqrt(v[i]) + eps);
  }
}

template <typename T>
void sgd_update_reference(std::int64_t n, const SgdScalars& s, const T* grad, T* buf, T* param) {
  KILN_CHECK(buf || s.momentum == 0.0, "sgd_update: momentum ", s.momentum, " needs a buffer");
  const T lr = static_cast<T>(s.lr), mom = static_cast<T>(s.momentum);
  const T decay = static_cast<T>(s.decay);
  for (std::int64_t i = 0; i < n; ++i) {
    param[i] -= decay * param[i];
    if (!buf) {
      param[i] -= lr * grad[i];
      continue;
    }
    buf[i] = mom * buf[i] + grad[i];
    param[i] -= lr * (s.nesterov ? grad[i] + mom * buf[i] : buf[i]);
  }
}

void sgd_update_fast(std::int64_t n, const SgdScalars& s, const float* grad, float* buf,
                     float* param) {
  KILN_CHECK(buf || s.momentum == 0.0, "sgd_update: momentum ", s.momentum, " needs a buffer");
  const float lr = static_cast<float>(s.lr), mom = static_cast<float>(s.momentum);
  const float decay = static_cast<float>(s.decay);
  // One loop per case so each stays branch-free and vectorises.
  if (!buf) {
#pragma omp parallel for simd if (n >= kMinParallel)
    for (std::int64_t i = 0; i < n; ++i) {
      param[i] -= decay * param[i];
      param[i] -= lr * grad[i];
    }
  } else if (s.nesterov) {
#pragma omp parallel for simd if (n >= kMinParallel)
    for (std::int64_t i = 0; i < n; ++i) {
      param[i] -= decay * param[i];
      buf[i] = mom * buf[i] + grad[i];
      param[i] -= lr * (grad[i] + mom * buf[i]);
    }
  } else {
#pragma omp parallel for simd if (n >= kMinParallel)
    for (std::int64_t i = 0; i < n; ++i) {
      param[i] -= decay * param[i];
      buf[i] = mom * buf[i] + grad[i];
      param[i] -= lr * buf[i];
    }
  }
}

#define KILN_INSTANTIATE_OPTIM(T)                                                                 \
  template void adam_update_reference<T>(std::int64_t, const AdamScalars&, const T*, T*, T*, T*); \
  template void sgd_update_reference<T>(std::int64_t, const SgdScalars&, const T*, T*, T*);
KILN_INSTANTIATE_OPTIM(float)
KILN_INSTANTIATE_OPTIM(double)
#undef KILN_INSTANTIATE_OPTIM

}  // namespace kiln::kernels::cpu
