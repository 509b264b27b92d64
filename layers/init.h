// Keras' default initialisers, for layers built from scratch (a weights file overwrites them).
#pragma once

#include <cstdint>

#include "core/random.h"
#include "core/tensor.h"

namespace kiln {

// Uniform in [-limit, limit), limit = sqrt(6 / (fan_in + fan_out)): Keras' glorot_uniform, which
// keeps activation and gradient variances roughly equal through the layer.
Tensor glorot_uniform(const Shape& shape, std::int64_t fan_in, std::int64_t fan_out, Generator& gen,
                      DType dtype = DType::Float32);
double glorot_limit(std::int64_t fan_in, std::int64_t fan_out);

}  // namespace kiln
