#include "layers/batch_norm2d.h"

namespace kiln {

BatchNorm2d::BatchNorm2d(std::string name, std::int64_t channels, const BatchNormOptions& options)
    : Module(std::move(name)), channels_(channels), options_(options) {
  KILN_CHECK(channels > 0, "BatchNorm2d '", this->name(), "': channels must be positive, got ",
             channels);
  KILN_CHECK(options.epsilon > 0 && options.momentum >= 0 && options.momentum <= 1, "BatchNorm2d '",
             this->name(), "': epsilon ", options.epsilon, " must be positive ", "and momentum ",
             options.momentum, " in [0, 1]");
  gamma_ = register_parameter("gamma", Tensor::ones(Shape{channels}));
  beta_ = register_parameter("beta", Tensor::zeros(Shape{channels}));
  moving_mean_ = register_buffer("moving_mean", Tensor::zeros(Shape{channels}));
  moving_variance_ = register_buffer("moving_variance", Tensor::ones(Shape{channels}));
}

bool BatchNorm2d::uses_batch_statistics() const { return is_training() && gamma_.requires_grad(); }

Tensor BatchNorm2d::forward(const Tensor& x) {
  KILN_CHECK(x.shape().rank() == 4 && x.shape()[1] == channels_, "BatchNorm2d '", name(),
             "': input ", x.shape(), " does not have ", channels_, " channels (expected (N, ",
             channels_, ", H, W))");
  return batch_norm2d(x, gamma_, beta_, moving_mean_, moving_variance_, uses_batch_statistics(),
                      options_);
}

}  // namespace kiln
