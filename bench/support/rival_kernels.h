// The small hand-written pieces a cuDNN rival needs where cuDNN has no call of its own: the
// negative log-likelihood that turns cudnnSoftmaxForward's log-probabilities into a mean
// cross-entropy, and its gradient, which cudnnSoftmaxBackward turns into the logits' gradient.
// Written plainly (as a cuDNN user would), not tuned. All pointers are device pointers; the work
// is queued on Kiln's stream. Declared without CUDA types, so the host-compiled *_bench.cpp files
// include it; defined in rival_kernels.cu (built only when KILN_WITH_CUDA).
#pragma once

#include <cstdint>

namespace kiln::bench::rival {

// loss[0] = mean over the N rows of -logp[i, labels[i]]; logp (N, K), labels (N). One block sums
// in double in a fixed order.
void nll_mean(std::int64_t n, std::int64_t k, const float* logp, const std::int32_t* labels,
              double* loss);

// dlogp (N, K) = -scale at (i, labels[i]) and 0 elsewhere: the gradient of
// scale * sum_i -logp[i, labels[i]] (scale = 1 / N for the mean).
void nll_backward(std::int64_t n, std::int64_t k, const std::int32_t* labels, float scale,
                  float* dlogp);

}  // namespace kiln::bench::rival
