#include "layers/init.h"

#include <cmath>

namespace kiln {

double glorot_limit(std::int64_t fan_in, std::int64_t fan_out) {
  KILN_CHECK(fan_in + fan_out > 0, "glorot_uniform: fans ", fan_in, " and ", fan_out,
             " must not both be zero");
  return std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
}

Tensor glorot_uniform(const Shape& shape, std::int64_t fan_in, std::int64_t fan_out, Generator& gen,
                      DType dtype) {
  const double limit = glorot_limit(fan_in, fan_out);
  return Tensor::uniform(shape, -limit, limit, gen, dtype);
}

}  // namespace kiln
