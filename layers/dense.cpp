#include "layers/dense.h"

#include "core/functions.h"
#include "layers/init.h"

namespace kiln {

Dense::Dense(std::string name, std::int64_t in_features, std::int64_t out_features,
             Activation activation, Generator& gen, bool use_bias)
    : Module(std::move(name)),
      in_features_(in_features),
      out_features_(out_features),
      activation_(activation) {
  KILN_CHECK(in_features > 0 && out_features > 0, "Dense '", this->name(),
             "': features must be positive, got ", in_features, " -> ", out_features);
  kernel_ = register_parameter(
      "kernel", glorot_uniform(Shape{in_features, out_features}, in_features, out_features, gen),
      KerasLayout::DenseKernel);
  if (use_bias) bias_ = register_parameter("bias", Tensor::zeros(Shape{out_features}));
}

Tensor Dense::forward(const Tensor& x) {
  KILN_CHECK(x.shape().rank() == 2 && x.shape()[1] == in_features_, "Dense '", name(), "': input ",
             x.shape(), " does not match kernel ", kernel_.shape(), " (expected (N, ", in_features_,
             "); a 4-D input needs a Flatten first)");
  const Tensor y = linear(x, kernel_, bias_);
  return activation_ == Activation::ReLU ? relu(y) : y;
}

}  // namespace kiln
