#include "tests/support/test_data.h"

#include "kernels/random_bits.h"

namespace kiln::test {

std::vector<double> random_doubles(std::int64_t n, std::uint64_t seed, double lo, double hi) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * kernels::random_uniform(seed, i);
  return v;
}

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float lo, float hi) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(lo + (hi - lo) * kernels::random_uniform(seed, i));
  return v;
}

std::vector<float> random_target_rows(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  std::vector<float> t = random_floats(n * k, seed, 0.f, 1.f);
  for (std::int64_t i = 0; i < n; ++i) {
    double total = 0.0;
    for (std::int64_t j = 0; j < k; ++j) total += t[i * k + j];
    for (std::int64_t j = 0; j < k; ++j) t[i * k + j] = static_cast<float>(t[i * k + j] / total);
  }
  return t;
}

std::vector<std::int32_t> random_ints(std::int64_t n, std::uint64_t seed, std::int32_t lo,
                                      std::int32_t hi_exclusive) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  const double span = static_cast<double>(hi_exclusive - lo);
  for (std::int64_t i = 0; i < n; ++i)
    v[i] = lo + static_cast<std::int32_t>(span * kernels::random_uniform(seed, i));
  return v;
}

}  // namespace kiln::test
