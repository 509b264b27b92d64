// Conv2d: Keras' Conv2D on NCHW activations. The kernel is stored OIHW (K, C, R, S), the layout
// cuDNN and oneDNN want; Keras files hold HWIO, and the weights loader transposes.
#pragma once

#include <cstdint>
#include <string>

#include "core/functions.h"
#include "core/random.h"
#include "layers/module.h"

namespace kiln {

// "same" keeps ceil(H / stride) rows, "valid" only windows wholly inside, "explicit" pads
// pad_h / pad_w on each side.
enum class Padding { Same, Valid, Explicit };

struct Conv2dConfig {
  std::int64_t kernel_h = 3, kernel_w = 3;
  std::int64_t stride_h = 1, stride_w = 1;
  Padding padding = Padding::Same;
  std::int64_t pad_h = 0, pad_w = 0;  // only for Padding::Explicit
  Activation activation = Activation::None;
  bool use_bias = true;

  // Keras' Conv2D(filters, (k, k), padding="same", activation="relu"), as VGG16 builds it.
  static Conv2dConfig same_relu(std::int64_t kernel) {
    Conv2dConfig c;
    c.kernel_h = c.kernel_w = kernel;
    c.activation = Activation::ReLU;
    return c;
  }
};

class Conv2d : public Module {
 public:
  // Kernel from Keras' glorot_uniform (fan_in = C*R*S, fan_out = K*R*S) drawn from gen; bias 0.
  Conv2d(std::string name, std::int64_t in_channels, std::int64_t out_channels,
         const Conv2dConfig& config, Generator& gen);

  Tensor forward(const Tensor& x) override;
  std::string keras_class() const override { return "conv2d"; }

  const Conv2dConfig& config() const { return config_; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  const Tensor& kernel() const { return kernel_; }
  const Tensor& bias() const { return bias_; }  // undefined without use_bias

 private:
  // The symmetric padding for an input of h x w; "same" is resolved per input size.
  Conv2dOptions options_for(std::int64_t h, std::int64_t w) const;

  std::int64_t in_channels_, out_channels_;
  Conv2dConfig config_;
  Tensor kernel_;  // (K, C, R, S)
  Tensor bias_;    // (K) or undefined
};

}  // namespace kiln
