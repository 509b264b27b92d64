#include "core/random.h"

#include <cmath>

#include "kernels/random_bits.h"

namespace kiln {

std::uint64_t Generator::next_u64() { return kernels::random_bits(seed_, offset_++); }

double Generator::uniform() { return kernels::random_uniform(seed_, offset_++); }

double Generator::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Generator::normal(double mean, double stddev) {
  // 1 - u keeps the logarithm's argument in (0, 1].
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::uint64_t Generator::reserve(std::uint64_t n) {
  const std::uint64_t first = offset_;
  offset_ += n;
  return first;
}

Generator Generator::derive(std::uint64_t stream) const {
  return Generator(kernels::random_bits(seed_ ^ 0x5EEDull, stream));
}

}  // namespace kiln
