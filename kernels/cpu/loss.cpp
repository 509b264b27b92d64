// Softmax cross-entropy from logits. Each row is shifted by its maximum before exp, so the
// largest term is exp(0) = 1: the row sum lies in [1, K] and can neither overflow nor vanish.
// The per-row loss is log-sum-exp minus the target logit, never log(probs), which could be
// log(0) = -inf for a confidently wrong prediction.
// Row sums and losses accumulate in double whatever T is; the fast path differs from the
// reference only in threading over rows and the order in which row losses are added.
#include "kernels/loss.h"

#include <cmath>
#include <cstdint>

namespace kiln::kernels::cpu {

namespace {

// probs row = softmax(logits row); returns that row's cross-entropy against its target.
template <typename T>
double softmax_cross_entropy_row(std::int64_t k, const T* logits, const std::int32_t* label,
                                 const T* target, T* probs) {
  T max_logit = logits[0];
  for (std::int64_t j = 1; j < k; ++j) max_logit = logits[j] > max_logit ? logits[j] : max_logit;
  double sum = 0.0;
  for (std::int64_t j = 0; j < k; ++j) {
    const T e = std::exp(logits[j] - max_logit);
    probs[j] = e;
    sum += static_cast<double>(e);
  }
  const double inv_sum = 1.0 / sum;
  for (std::int64_t j = 0; j < k; ++j) probs[j] = static_cast<T>(probs[j] * inv_sum);
  const double log_sum_exp = static_cast<double>(max_logit) + std::log(sum);
  if (label) return log_sum_exp - static_cast<double>(logits[*label]);
  // NOTE: summed term by term, t_j * (lse - l_j), so a one-hot row gives exactly the same double
  // as the label path (the zero terms add +0.0); expanding to lse * sum(t) - sum(t * l) would not.
  double loss = 0.0;
  for (std::int64_t j = 0; j < k; ++j)
    loss += static_cast<double>(target[j]) * (log_sum_exp - static_cast<double>(logits[j]));
  return loss;
}

// glogits row = scale * (probs row - target row).
template <typename T>
void softmax_cross_entropy_row_backward(std::int64_t k, const T* probs, const std::int32_t* label,
                                        const T* target, T scale, T* glogits) {
  if (label) {
    for (std::int64_t j = 0; j < k; ++j) glogits[j] = scale * probs[j];
    glogits[*label] = scale * (probs[*label] - T(1));
  } else {
    for (std::int64_t j = 0; j < k; ++j) glogits[j] = scale * (probs[j] - target[j]);
  }
}

}  // namespace

template <typename T>
double softmax_cross_entropy_forward_reference(std::int64_t n, std::int64_t k, const T* logits,
                                               const std::int32_t* labels, const T* target_probs,
                                               T* probs) {
  if (n == 0) return 0.0;  // the mean of nothing; avoids 0 / 0
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i)
    total +=
        softmax_cross_entropy_row(k, logits + i * k, labels ? labels + i : nullptr,
                                  target_probs ? target_probs + i * k : nullptr, probs + i * k);
  return total / static_cast<double>(n);
}

template <typename T>
void softmax_cross_entropy_backward_reference(std::int64_t n, std::int64_t k, const T* probs,
                                              const std::int32_t* labels, const T* target_probs,
                                              T scale, T* glogits) {
  for (std::int64_t i = 0; i < n; ++i)
    softmax_cross_entropy_row_backward(k, probs + i * k, labels ? labels + i : nullptr,
                                       target_probs ? target_probs + i * k : nullptr, scale,
                                       glogits + i * k);
}

#define KILN_INSTANTIATE_LOSS(T)                                                                   \
  template double softmax_cross_entropy_forward_reference<T>(std::int64_t, std::int64_t, const T*, \
                                                             const std::int32_t*, const T*, T*);   \
  template void softmax_cross_entropy_backward_reference<T>(std::int64_t, std::int64_t, const T*,  \
                                                            const std::int32_t*, const T*, T, T*);
KILN_INSTANTIATE_LOSS(float)
KILN_INSTANTIATE_LOSS(double)
#undef KILN_INSTANTIATE_LOSS

double softmax_cross_entropy_forward_fast(std::int64_t n, std::int64_t k, const float* logits,
                                          const std::int32_t* labels, const float* target_probs,
                                          float* probs) {
  if (n == 0) return 0.0;
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (n * k >= 4096)
  for (std::int64_t i = 0; i < n; ++i)
    total +=
        softmax_cross_entropy_row(k, logits + i * k, labels ? labels + i : nullptr,
                                  target_probs ? target_probs + i * k : nullptr, probs + i * k);
  return total / static_cast<double>(n);
}

void softmax_cross_entropy_backward_fast(std::int64_t n, std::int64_t k, const float* probs,
                                         const std::int32_t* labels, const float* target_probs,
                                         float scale, float* glogits) {
#pragma omp parallel for if (n * k >= 4096)
  for (std::int64_t i = 0; i < n; ++i)
    softmax_cross_entropy_row_backward(k, probs + i * k, labels ? labels + i : nullptr,
                                       target_probs ? target_probs + i * k : nullptr, scale,
                                       glogits + i * k);
}

}  // namespace kiln::kernels::cpu
