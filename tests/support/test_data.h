// Fresh random inputs and sentinel-filled outputs for kernel tests.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::test {

// n values uniform in [lo, hi), from a generator seeded by `seed` (tests vary seeds, not inputs).
std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float lo = -1.f,
                                 float hi = 1.f);
std::vector<double> random_doubles(std::int64_t n, std::uint64_t seed, double lo = -1.0,
                                   double hi = 1.0);
std::vector<std::int32_t> random_ints(std::int64_t n, std::uint64_t seed, std::int32_t lo,
                                      std::int32_t hi_exclusive);
// n rows of k positive weights, each normalised to sum to 1 (soft targets for the losses).
std::vector<float> random_target_rows(std::int64_t n, std::int64_t k, std::uint64_t seed);

// Outputs are pre-filled with a sentinel, different for the two paths under comparison, so an
// element that a kernel never writes cannot match by accident.
constexpr float kSentinelA = -12345.f;
constexpr float kSentinelB = 54321.f;

}  // namespace kiln::test
