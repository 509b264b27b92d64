// MaxPool2d: Keras' MaxPooling2D (padding "valid"), NCHW. Default 2x2 windows, stride 2.
#pragma once

#include <string>

#include "core/functions.h"
#include "layers/module.h"

namespace kiln {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(std::string name, const Pool2dOptions& options = {});

  Tensor forward(const Tensor& x) override;  // (N, C, H, W) -> (N, C, P, Q)
  std::string keras_class() const override { return "max_pooling2d"; }
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

}  // namespace kiln
