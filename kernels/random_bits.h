// Counter-based random numbers: number i of the stream with key `seed` is a pure function
// mix(seed, i) (SplitMix64's finaliser). Any thread, CPU or GPU, can draw element i without the
// others, so a dropout mask is the same on every device and for every thread count.
#pragma once

#include <cstdint>

#include "base/host_device.h"

namespace kiln::kernels {

KILN_HOST_DEVICE inline std::uint64_t random_bits(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed * 0xD1B54A32D192ED03ull + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits.
KILN_HOST_DEVICE inline double random_uniform(std::uint64_t seed, std::uint64_t i) {
  return static_cast<double>(random_bits(seed, i) >> 11) * 0x1.0p-53;
}

}  // namespace kiln::kernels
