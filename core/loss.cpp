// softmax_cross_entropy and softmax.
#include "kernels/loss.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"

namespace kiln {

namespace {
// Checks targets against logits (N,K); returns true for class-index targets.
bool check_targets(const Tensor& logits, const Tensor& targets) {
  const std::int64_t n = logits.shape()[0], k = logits.shape()[1];
  if (targets.dtype() == DType::Int32) {
    KILN_CHECK(targets.shape() == Shape({n}), "softmax_cross_entropy: class-index targets ",
               targets.shape(), " do not match logits ", logits.shape(), " (expected [", n, "])");
    const std::vector<std::int32_t> labels = targets.to_vector<std::int32_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      KILN_CHECK(labels[i] >= 0 && labels[i] < k, "softmax_cross_entropy: target ", i, " is class ",
                 labels[i], ", outside [0, ", k, ") for logits ", logits.shape());
    }
    return true;
  }
  check_same_dtype_device("softmax_cross_entropy", logits, targets);
  KILN_CHECK(targets.shape() == logits.shape(), "softmax_cross_entropy: probability targets ",
             targets.shape(), " do not match logits ", logits.shape());
  return false;
}
}  // namespace

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& given_targets) {
  check_floating("softmax_cross_entropy", logits);
  // Class indices are data, often made on the host: they follow the logits to their device.
  const Tensor targets =
      given_targets.dtype() == DType::Int32 && given_targets.device() != logits.device()
          ? given_targets.to(logits.device())
          : given_targets;
  KILN_CHECK(logits.shape().rank() == 2 && logits.shape()[0] > 0,
             "softmax_cross_entropy: logits must be (batch, classes), got ", logits.shape());
  const bool labels = check_targets(logits, targets);
  const std::int64_t n = logits.shape()[0], k = logits.shape()[1];
  Tensor probs = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  double loss = 0;
  dispatch<kernels::SoftmaxCrossEntropyForward>(
      "softmax_cross_entropy", logits, [&](auto forward, auto t) {
        using T = decltype(t);
        loss = forward(n, k, logits.device_data<T>(),
                       labels ? targets.device_data<std::int32_t>() : nullptr,
                       labels ? nullptr : targets.device_data<T>(), probs.device_data<T>());
      });
  Tensor y = Tensor::full(Shape{}, loss, logits.dtype(), logits.device());
  if (should_record({&logits})) {
    Tensor saved_targets = targets.detach();
    record(y, "softmax_cross_entropy", {logits, targets},
           [probs, saved_targets, labels, n, k](const Tensor& gy) {
             Tensor g = Tensor::empty(probs.shape(), probs.dtype(), probs.device());
             const double scale = gy.item() / static_cast<double>(n);
             dispatch<kernels::SoftmaxCrossEntropyBackward>(
                 "softmax_cross_entropy backward", probs, [&](auto backward, auto t) {
                   using T = decltype(t);
                   backward(n, k, probs.device_data<T>(),
                            labels ? saved_targets.device_data<std::int32_t>() : nullptr,
                            labels ? nullptr : saved_targets.device_data<T>(),
                            static_cast<T>(scale), g.device_data<T>());
                 });
             // NOTE: no gradient flows to the targets (they are data, not parameters).
             return std::vector<Tensor>{g, Tensor()};
           });
  }
  return y;
}

Tensor softmax(const Tensor& logits) {
  check_floating("softmax", logits);
  KILN_CHECK(logits.shape().rank() == 2, "softmax: logits must be (batch, classes), got ",
             logits.shape());
  const std::int64_t n = logits.shape()[0], k = logits.shape()[1];
  // Softmax is the probabilities half of the loss kernel; the uniform target is ignored.
  Tensor uniform =
      Tensor::full(logits.shape(), 1.0 / static_cast<double>(k), logits.dtype(), logits.device());
  Tensor probs = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  dispatch<kernels::SoftmaxCrossEntropyForward>("softmax", logits, [&](auto forward, auto t) {
    using T = decltype(t);
    forward(n, k, logits.device_data<T>(), nullptr, uniform.device_data<T>(),
            probs.device_data<T>());
  });
  return probs;
}

}  // namespace kiln
