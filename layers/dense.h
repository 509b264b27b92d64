// Dense: Keras' fully connected layer, y = x @ kernel + bias, kernel kept (in, out) as Keras keeps
// it, so weight files need no transpose.
#pragma once

#include <cstdint>
#include <string>

#include "core/random.h"
#include "layers/module.h"

namespace kiln {

class Dense : public Module {
 public:
  // Kernel from Keras' glorot_uniform (fan_in = in, fan_out = out) drawn from gen; bias 0.
  Dense(std::string name, std::int64_t in_features, std::int64_t out_features,
        Activation activation, Generator& gen, bool use_bias = true);

  Tensor forward(const Tensor& x) override;  // (N, in) -> (N, out)
  std::string keras_class() const override { return "dense"; }

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  Activation activation() const { return activation_; }
  const Tensor& kernel() const { return kernel_; }
  const Tensor& bias() const { return bias_; }  // undefined without use_bias

 private:
  std::int64_t in_features_, out_features_;
  Activation activation_;
  Tensor kernel_;  // (in, out)
  Tensor bias_;    // (out) or undefined
};

}  // namespace kiln
