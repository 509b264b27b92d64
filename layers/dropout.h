// Dropout: inverted dropout in training mode, identity in evaluation (so evaluation never
// rescales). The layer owns its generator, seeded at construction, so a run is repeatable and a
// checkpoint can save and restore the stream (generator().set_state).
#pragma once

#include <cstdint>
#include <string>

#include "core/random.h"
#include "layers/module.h"

namespace kiln {

class Dropout : public Module {
 public:
  // rate: the probability of zeroing an element, in [0, 1).
  Dropout(std::string name, double rate, std::uint64_t seed);

  Tensor forward(const Tensor& x) override;
  std::string keras_class() const override { return "dropout"; }
  bool keeps_feature_order() const override { return true; }

  double rate() const { return rate_; }
  Generator& generator() { return gen_; }

 private:
  double rate_;
  Generator gen_;
};

}  // namespace kiln
