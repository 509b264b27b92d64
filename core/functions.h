// Differentiable functions: Kiln's public ops. Each checks shapes and dtypes once, then calls the
// kernel for the tensor's device (see dispatch.h), and records its backward for autograd.
// Activations are NCHW; conv weights OIHW (K, C, R, S); dense weights (in, out) as Keras keeps
// them.
#pragma once

#include <cstdint>

#include "core/random.h"
#include "core/tensor.h"

namespace kiln {

struct Conv2dOptions {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  // relu(conv2d(...)) as one op: the ReLU runs in place on the convolution's output (no second
  // tensor); the gradient is the same, from the output's mask y > 0, and NaN still propagates.
  bool relu = false;
};
// x (N,C,H,W), w (K,C,R,S), b (K) or undefined -> (N,K,P,Q).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt = {});

struct Pool2dOptions {
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;
};
// x (N,C,H,W) -> (N,C,P,Q), the maximum of each window.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt = {});

// x (M,K) @ w (K,N) + b (N) -> (M,N); b may be undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

Tensor relu(const Tensor& x);

// Same data, new shape with the same element count. One extent may be -1 (inferred).
Tensor reshape(const Tensor& x, std::vector<std::int64_t> dims);
// (N, ...) -> (N, product of the rest): NCHW order, C outermost (see layers/flatten.h).
Tensor flatten(const Tensor& x);

// Inverted dropout. In training, each element is zeroed with probability p and the survivors are
// scaled by 1 / (1 - p); the mask's random numbers come from `gen`. Outside training: identity.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

// Batch normalisation per channel, Keras' BatchNormalization on NCHW's channel axis:
// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, with gamma, beta and the running
// statistics (C). batch_stats: mean and var are the batch's (biased variance), and the running
// ones move in place, running = momentum * running + (1 - momentum) * batch (not recorded);
// otherwise mean and var are the running ones. Differentiable in x, gamma and beta.
struct BatchNormOptions {
  double momentum = 0.99;  // Keras' defaults
  double epsilon = 1e-3;
};
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool batch_stats,
                    const BatchNormOptions& opt = {});

// Mean over the batch of -sum(target * log_softmax(logits)), logits (N,K).
// targets: class indices, int32 (N); or probabilities (N,K) in the logits' dtype (one-hot or soft).
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& targets);
// Row-wise softmax of logits (N,K); not differentiable (for prediction).
Tensor softmax(const Tensor& logits);

// Elementwise, same shapes (no broadcasting).
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, double s);
// Reductions over all elements to a scalar of shape [].
Tensor sum(const Tensor& a);
Tensor mean(const Tensor& a);

// dst += src, in place, not recorded (gradient accumulation).
void accumulate_(Tensor& dst, const Tensor& src);

}  // namespace kiln
