// Optimiser update kernels: one parameter tensor of n elements per call, updated in place.
#pragma once

#include <cstdint>

#include "kernels/kernel_family.h"

namespace kiln::kernels {

// Contract for both kernels: grad, m, v (or buf) and param are n elements each and never alias.
// `decay` is the decoupled weight decay already multiplied by the learning rate (lr * wd), as
// Keras' and PyTorch's AdamW apply it.
//
// One Adam step, with the scalars the optimiser derives for step t:
//   m += (g - m)(1 - beta1); v += (g^2 - v)(1 - beta2);
//   param -= decay * param;                       (decoupled weight decay, AdamW; 0 for Adam)
//   param -= step_size * m / (sqrt(v) + eps_hat)
// Keras: step_size = lr * sqrt(1 - beta2^t) / (1 - beta1^t), eps_hat = eps.
// PyTorch: the same step_size, eps_hat = eps * sqrt(1 - beta2^t).
struct AdamScalars {
  double beta1, beta2, step_size, eps_hat, decay;
};

// SGD with momentum in PyTorch's form (no dampening): buf = momentum * buf + g;
// param -= lr * (nesterov ? g + momentum * buf : buf). Weight decay is DECOUPLED
// (param -= decay * param first), not PyTorch SGD's coupled L2 term added to g.
struct SgdScalars {
  double lr, momentum, decay;
  bool nesterov;
};

namespace cpu {
template <typename T>
void adam_update_reference(std::int64_t n, const AdamScalars& s, const T* grad, T* m, T* v,
                           T* param);
void adam_update_fast(std::int64_t n, const AdamScalars& s, const float* grad, float* m, float* v,
                      float* param);
// buf may be null when momentum == 0.
template <typename T>
void sgd_update_reference(std::int64_t n, const SgdScalars& s, const T* grad, T* buf, T* param);
void sgd_update_fast(std::int64_t n, const SgdScalars& s, const float* grad, float* buf,
                     float* param);
}  // namespace cpu

// CUDA: the same updates, and a fused multi-tensor Adam that updates many parameter tensors in
// one launch (a table of pointers and sizes on the device).
namespace cuda {
void adam_update(std::int64_t n, const AdamScalars& s, const float* grad, float* m, float* v,
                 float* param);
void sgd_update(std::int64_t n, const SgdScalars& s, const float* grad, float* buf, float* param);
struct AdamTensor {
  std::int64_t n;
  const float* grad;
  float *m, *v, *param;
};
void adam_update_multi(const AdamTensor* tensors, std::int64_t count, const AdamScalars& s);
}  // namespace cuda

}  // namespace kiln::kernels

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(AdamUpdate, cpu::adam_update_fast, cpu::adam_update_reference,
                   cuda::adam_update);
KILN_KERNEL_FAMILY(SgdUpdate, cpu::sgd_update_fast, cpu::sgd_update_reference, cuda::sgd_update);
}  // namespace kiln::kernels
