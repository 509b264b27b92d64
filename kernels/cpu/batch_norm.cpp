// Batch normalisation on the CPU; see kernels/batch_norm.h. One function per channel (or per
// (n, c) plane) does the work; the reference calls it in a plain loop and the fast path in an
// OpenMP loop, so the two give the same bits and the thread count cannot change a sum.
#include "kernels/batch_norm.h"

#include <cmath>
#include <cstdint>

namespace kiln::kernels::cpu {

namespace {

// Below this many elements a parallel region costs more than it saves; run on one thread.
constexpr std::int64_t kMinParallel = 1 << 15;

double inverse_std(double var, double eps) { return 1.0 / std::sqrt(var + eps); }

template <typename T>
void stats_channel(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t ch, const T* x,
                   T* mean, T* var, double momentum, T* running_mean, T* running_var) {
  const double m = static_cast<double>(n * hw);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T* xp = x + (i * c + ch) * hw;
    for (std::int64_t j = 0; j < hw; ++j) sum += static_cast<double>(xp[j]);
  }
  const double mu = sum / m;
  double squares = 0.0;  // second pass: no cancellation of a large mean
  for (std::int64_t i = 0; i < n; ++i) {
    const T* xp = x + (i * c + ch) * hw;
    for (std::int64_t j = 0; j < hw; ++j) {
      const double d = static_cast<double>(xp[j]) - mu;
      squares += d * d;
    }
  }
  const double sigma2 = squares / m;
  mean[ch] = static_cast<T>(mu);
  var[ch] = static_cast<T>(sigma2);
  if (running_mean != nullptr) {
    running_mean[ch] =
        static_cast<T>(momentum * static_cast<double>(running_mean[ch]) + (1.0 - momentum) * mu);
    running_var[ch] =
        static_cast<T>(momentum * static_cast<double>(running_var[ch]) + (1.0 - momentum) * sigma2);
  }
}

template <typename T>
void forward_plane(std::int64_t c, std::int64_t hw, double eps, std::int64_t plane, const T* x,
                   const T* mean, const T* var, const T* gamma, const T* beta, T* y) {
  const std::int64_t ch = plane % c;
  const double mu = mean[ch], invstd = inverse_std(var[ch], eps), g = gamma[ch], b = beta[ch];
  const T* xp = x + plane * hw;
  T* yp = y + plane * hw;
  for (std::int64_t j = 0; j < hw; ++j) {
    yp[j] = static_cast<T>((static_cast<double>(xp[j]) - mu) * invstd * g + b);
  }
}

template <typename T>
void gradient_sums_channel(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                           std::int64_t ch, const T* x, const T* gy, const T* mean, const T* var,
                           T* ggamma, T* gbeta) {
  const double mu = mean[ch], invstd = inverse_std(var[ch], eps);
  double sum_gy = 0.0, sum_gy_xhat = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t base = (i * c + ch) * hw;
    for (std::int64_t j = 0; j < hw; ++j) {
      const double g = gy[base + j];
      sum_gy += g;
      sum_gy_xhat += g * ((static_cast<double>(x[base + j]) - mu) * invstd);
    }
  }
  ggamma[ch] = static_cast<T>(sum_gy_xhat);
  gbeta[ch] = static_cast<T>(sum_gy);
}

template <typename T>
void input_gradient_plane(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                          bool batch_stats, std::int64_t plane, const T* x, const T* gy,
                          const T* mean, const T* var, const T* gamma, const T* ggamma,
                          const T* gbeta, T* gx) {
  const std::int64_t ch = plane % c;
  const double mu = mean[ch], invstd = inverse_std(var[ch], eps);
  const double scale = static_cast<double>(gamma[ch]) * invstd;
  const double m = static_cast<double>(n * hw);
  const double sum_gy = batch_stats ? static_cast<double>(gbeta[ch]) : 0.0;
  const double sum_gy_xhat = batch_stats ? static_cast<double>(ggamma[ch]) : 0.0;
  const T* xp = x + plane * hw;
  const T* gp = gy + plane * hw;
  T* out = gx + plane * hw;
  for (std::int64_t j = 0; j < hw; ++j) {
    const double xhat = (static_cast<double>(xp[j]) - mu) * invstd;
    const double g = gp[j];
    out[j] =
        static_cast<T>(batch_stats ? scale * (g - (sum_gy + xhat * sum_gy_xhat) / m) : scale * g);
  }
}

// The loops both engines share: `parallel` runs them under OpenMP.
template <typename T>
void stats(bool parallel, std::int64_t n, std::int64_t c, std::int64_t hw, const T* x, T* mean,
           T* var, double momentum, T* running_mean, T* running_var) {
#pragma omp parallel for if (parallel && n * c * hw >= kMinParallel)
  for (std::int64_t ch = 0; ch < c; ++ch)
    stats_channel(n, c, hw, ch, x, mean, var, momentum, running_mean, running_var);
}

template <typename T>
void forward(bool parallel, std::int64_t n, std::int64_t c, std::int64_t hw, double eps, const T* x,
             const T* mean, const T* var, const T* gamma, const T* beta, T* y) {
#pragma omp parallel for if (parallel && n * c * hw >= kMinParallel)
  for (std::int64_t plane = 0; plane < n * c; ++plane)
    forward_plane(c, hw, eps, plane, x, mean, var, gamma, beta, y);
}

template <typename T>
void backward(bool parallel, std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
              bool batch_stats, const T* x, const T* gy, const T* mean, const T* var,
              const T* gamma, T* gx, T* ggamma, T* gbeta) {
  const bool threads = parallel && n * c * hw >= kMinParallel;
#pragma omp parallel for if (threads)
  for (std::int64_t ch = 0; ch < c; ++ch)
    gradient_sums_channel(n, c, hw, eps, ch, x, gy, mean, var, ggamma, gbeta);
  if (gx == nullptr) return;
#pragma omp parallel for if (threads)
  for (std::int64_t plane = 0; plane < n * c; ++plane)
    input_gradient_plane(n, c, hw, eps, batch_stats, plane, x, gy, mean, var, gamma, ggamma, gbeta,
                         gx);
}

}  // namespace

template <typename T>
void batch_norm_stats_reference(std::int64_t n, std::int64_t c, std::int64_t hw, const T* x,
                                T* mean, T* var, double momentum, T* running_mean, T* running_var) {
  stats(false, n, c, hw, x, mean, var, momentum, running_mean, running_var);
}

template <typename T>
void batch_norm_forward_reference(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                                  const T* x, const T* mean, const T* var, const T* gamma,
                                  const T* beta, T* y) {
  forward(false, n, c, hw, eps, x, mean, var, gamma, beta, y);
}

template <typename T>
void batch_norm_backward_reference(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                                   bool batch_stats, const T* x, const T* gy, const T* mean,
                                   const T* var, const T* gamma, T* gx, T* ggamma, T* gbeta) {
  backward(false, n, c, hw, eps, batch_stats, x, gy, mean, var, gamma, gx, ggamma, gbeta);
}

#define KILN_INSTANTIATE_BATCH_NORM(T)                                                             \
  template void batch_norm_stats_reference<T>(std::int64_t, std::int64_t, std::int64_t, const T*,  \
                                              T*, T*, double, T*, T*);                             \
  template void batch_norm_forward_reference<T>(std::int64_t, std::int64_t, std::int64_t, double,  \
                                                const T*, const T*, const T*, const T*, const T*,  \
                                                T*);                                               \
  template void batch_norm_backward_reference<T>(std::int64_t, std::int64_t, std::int64_t, double, \
                                                 bool, const T*, const T*, const T*, const T*,     \
                                                 const T*, T*, T*, T*);
KILN_INSTANTIATE_BATCH_NORM(float)
KILN_INSTANTIATE_BATCH_NORM(double)
#undef KILN_INSTANTIATE_BATCH_NORM

void batch_norm_stats_fast(std::int64_t n, std::int64_t c, std::int64_t hw, const float* x,
                           float* mean, float* var, double momentum, float* running_mean,
                           float* running_var) {
  stats(true, n, c, hw, x, mean, var, momentum, running_mean, running_var);
}

void batch_norm_forward_fast(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                             const float* x, const float* mean, const float* var,
                             const float* gamma, const float* beta, float* y) {
  forward(true, n, c, hw, eps, x, mean, var, gamma, beta, y);
}

void batch_norm_backward_fast(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                              bool batch_stats, const float* x, const float* gy, const float* mean,
                              const float* var, const float* gamma, float* gx, float* ggamma,
                              float* gbeta) {
  backward(true, n, c, hw, eps, batch_stats, x, gy, mean, var, gamma, gx, ggamma, gbeta);
}

}  // namespace kiln::kernels::cpu
