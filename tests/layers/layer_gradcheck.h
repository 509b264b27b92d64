// Gradient-checks a layer in float64 with respect to its input and every trainable parameter,
// the one recipe every layer test uses.
#pragma once

#include <functional>
#include <vector>

#include "core/random.h"
#include "layers/module.h"
#include "tests/support/gradcheck.h"

namespace kiln::test {

// Converts the layer to float64 (in place), draws an input of `shape` in [-1, 1) and checks
// projection_loss(layer(x)). `before_forward` runs before every evaluation (reseeding dropout).
inline GradcheckResult gradcheck_layer(Module& layer, const Shape& shape,
                                       const std::function<void()>& before_forward = {},
                                       const GradcheckOptions& options = {},
                                       std::uint64_t seed = 1) {
  layer.to(DType::Float64);
  Generator gen(seed);
  Tensor x = Tensor::uniform(shape, -1.0, 1.0, gen, DType::Float64);
  x.set_requires_grad(true);
  std::vector<Tensor> wrt{x};
  for (const Tensor& p : layer.trainable_parameters()) wrt.push_back(p);
  return gradcheck(
      [&] {
        if (before_forward) before_forward();
        return projection_loss(layer(x));
      },
      wrt, options);
}

// How many tensors gradcheck_layer checks: the input plus the trainable parameters.
inline std::size_t checked_tensors(const Module& layer) {
  return 1 + layer.trainable_parameters().size();
}

}  // namespace kiln::test
