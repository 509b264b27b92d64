// Softmax cross-entropy from logits (N, K), computed with log-sum-exp so large logits never
// overflow. Targets are either class indices (N) or probability rows (N, K) (one-hot or soft).
// The loss is the mean over the batch. Outputs are overwritten.
#pragma once

#include <cstdint>

#include "kernels/kernel_family.h"

namespace kiln::kernels::cpu {

// probs (N,K) = softmax(logits); returns the mean loss. Exactly one of `labels` (N) and
// `target_probs` (N,K) is non-null. Labels must lie in [0, K) (checked in core/). An empty
// batch returns 0.
template <typename T>
double softmax_cross_entropy_forward_reference(std::int64_t n, std::int64_t k, const T* logits,
                                               const std::int32_t* labels, const T* target_probs,
                                               T* probs);
// glogits (N,K) = scale * (probs - target), where scale is the loss's upstream gradient / N.
template <typename T>
void softmax_cross_entropy_backward_reference(std::int64_t n, std::int64_t k, const T* probs,
                                              const std::int32_t* labels, const T* target_probs,
                                              T scale, T* glogits);

// OpenMP over rows, float only, same contracts.
double softmax_cross_entropy_forward_fast(std::int64_t n, std::int64_t k, const float* logits,
                                          const std::int32_t* labels, const float* target_probs,
                                          float* probs);
void softmax_cross_entropy_backward_fast(std::int64_t n, std::int64_t k, const float* probs,
                                         const std::int32_t* labels, const float* target_probs,
                                         float scale, float* glogits);

}  // namespace kiln::kernels::cpu

// CUDA twins: a fused forward (a block per row) and an elementwise backward. labels and
// target_probs are device pointers; the forward returns the mean loss to the host (it syncs).
namespace kiln::kernels::cuda {
double softmax_cross_entropy_forward(std::int64_t n, std::int64_t k, const float* logits,
                                     const std::int32_t* labels, const float* target_probs,
                                     float* probs);
void softmax_cross_entropy_backward(std::int64_t n, std::int64_t k, const float* probs,
                                    const std::int32_t* labels, const float* target_probs,
                                    float scale, float* glogits);
// correct[0] += number of rows whose argmax equals the label (device int64 counter).
void count_correct(std::int64_t n, std::int64_t k, const float* logits, const std::int32_t* labels,
                   std::int64_t* correct);
}  // namespace kiln::kernels::cuda

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(SoftmaxCrossEntropyForward, cpu::softmax_cross_entropy_forward_fast,
                   cpu::softmax_cross_entropy_forward_reference,
                   cuda::softmax_cross_entropy_forward);
KILN_KERNEL_FAMILY(SoftmaxCrossEntropyBackward, cpu::softmax_cross_entropy_backward_fast,
                   cpu::softmax_cross_entropy_backward_reference,
                   cuda::softmax_cross_entropy_backward);
}  // namespace kiln::kernels
