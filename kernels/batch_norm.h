// Batch normalisation over the channels of an NCHW tensor, as Keras' BatchNormalization on the
// channel axis and cuDNN's spatial mode compute it. x, y, gy and gx are (N, C, HW); mean, var,
// gamma, beta, the running statistics and the parameter gradients are (C). M = N * HW values
// make up each channel.
//
// Every device computes in double and rounds to T once, at the end, in the same formulas:
//   invstd    = 1 / sqrt(var + eps)
//   xhat      = (x - mean) * invstd
//   y         = xhat * gamma + beta
//   ggamma    = sum over the channel of gy * xhat,    gbeta = sum of gy
//   gx        = gamma * invstd * (gy - (gbeta + xhat * ggamma) / M)   with batch statistics
//   gx        = gamma * invstd * gy                                    with running statistics
// where gx uses ggamma and gbeta as rounded to T (what the CUDA twin's second kernel reads back),
// so the devices differ only by the order of the double sums. The per-element arithmetic in
// double costs nothing that matters: these kernels are bound by memory, not arithmetic.
//
// Keras' statistics: the variance is the biased one (divided by M, not M - 1) for both the
// normalisation and the running average, running = momentum * running + (1 - momentum) * batch.
// Nothing aliases; outputs are overwritten.
#pragma once

#include <cstdint>

#include "kernels/kernel_family.h"

namespace kiln::kernels {

namespace cpu {

// mean, var (C) = each channel's mean and biased variance (two passes), for M > 0. When
// running_mean and running_var are not null they are updated in place by Keras' rule.
template <typename T>
void batch_norm_stats_reference(std::int64_t n, std::int64_t c, std::int64_t hw, const T* x,
                                T* mean, T* var, double momentum, T* running_mean, T* running_var);
// y = (x - mean) / sqrt(var + eps) * gamma + beta.
template <typename T>
void batch_norm_forward_reference(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                                  const T* x, const T* mean, const T* var, const T* gamma,
                                  const T* beta, T* y);
// ggamma, gbeta (C); gx when not null. batch_stats: mean and var were the batch's own (training),
// so the gradient flows through them too; false: they were the running ones (constants).
template <typename T>
void batch_norm_backward_reference(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                                   bool batch_stats, const T* x, const T* gy, const T* mean,
                                   const T* var, const T* gamma, T* gx, T* ggamma, T* gbeta);

// OpenMP over channels (stats, gradient sums) or (n, c) planes (elementwise), float only, same
// contracts and the same bits as the reference: each channel's sums run in the same order.
void batch_norm_stats_fast(std::int64_t n, std::int64_t c, std::int64_t hw, const float* x,
                           float* mean, float* var, double momentum, float* running_mean,
                           float* running_var);
void batch_norm_forward_fast(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                             const float* x, const float* mean, const float* var,
                             const float* gamma, const float* beta, float* y);
void batch_norm_backward_fast(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                              bool batch_stats, const float* x, const float* gy, const float* mean,
                              const float* var, const float* gamma, float* gx, float* ggamma,
                              float* gbeta);

}  // namespace cpu

// CUDA twins (kernels/cuda/batch_norm.cu), Kiln's own kernels, same contracts: the per-channel
// sums run one block per channel in double, in an order fixed by the shape alone (no atomics), so
// they repeat bit for bit run to run and agree with the CPU to double rounding before the final
// rounding to float.
namespace cuda {
void batch_norm_stats(std::int64_t n, std::int64_t c, std::int64_t hw, const float* x, float* mean,
                      float* var, double momentum, float* running_mean, float* running_var);
void batch_norm_forward(std::int64_t n, std::int64_t c, std::int64_t hw, double eps, const float* x,
                        const float* mean, const float* var, const float* gamma, const float* beta,
                        float* y);
void batch_norm_backward(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                         bool batch_stats, const float* x, const float* gy, const float* mean,
                         const float* var, const float* gamma, float* gx, float* ggamma,
                         float* gbeta);
}  // namespace cuda

}  // namespace kiln::kernels

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(BatchNormStats, cpu::batch_norm_stats_fast, cpu::batch_norm_stats_reference,
                   cuda::batch_norm_stats);
KILN_KERNEL_FAMILY(BatchNormForward, cpu::batch_norm_forward_fast,
                   cpu::batch_norm_forward_reference, cuda::batch_norm_forward);
KILN_KERNEL_FAMILY(BatchNormBackward, cpu::batch_norm_backward_fast,
                   cpu::batch_norm_backward_reference, cuda::batch_norm_backward);
}  // namespace kiln::kernels
