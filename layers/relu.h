// ReLU as a layer of its own (Keras' Activation("relu") / ReLU()); Conv2d and Dense fuse it.
#pragma once

#include <string>

#include "layers/module.h"

namespace kiln {

class ReLU : public Module {
 public:
  explicit ReLU(std::string name) : Module(std::move(name)) {}
  Tensor forward(const Tensor& x) override;  // any shape
  std::string keras_class() const override { return "re_lu"; }
  bool keeps_feature_order() const override { return true; }
};

}  // namespace kiln
