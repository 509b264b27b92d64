// Flatten: (N, C, H, W) -> (N, C*H*W) in NCHW order, C outermost.
//
// NOTE: Keras flattens NHWC, flat index (h*W + w)*C + c. For a 1x1 map the two orders agree; for a
// larger map the Dense kernel after a Flatten sees its rows in a different order, so the weights
// loader permutes that kernel's rows on load and save (KERAS-FORMATS.md section 2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "layers/module.h"

namespace kiln {

class Flatten : public Module {
 public:
  // A declared input map lets weight files permute the next Dense kernel's rows (see above), and
  // makes forward() reject any other map with an error naming the layer.
  explicit Flatten(std::string name, std::optional<MapShape> input_map = std::nullopt)
      : Module(std::move(name)), input_map_(input_map) {}
  Tensor forward(const Tensor& x) override;
  const std::optional<MapShape>& input_map() const { return input_map_; }
  std::string keras_class() const override { return "flatten"; }
  std::optional<MapShape> flattens_map() const override { return input_map_; }

 private:
  std::optional<MapShape> input_map_;
};

}  // namespace kiln
