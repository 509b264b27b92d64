// Seeded permutations: Fisher-Yates driven by kiln::Generator, so an order is a pure function of
// the generator's (seed, offset) and the same on every machine.
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.h"

namespace kiln {

// A uniformly random permutation of 0..n-1; draws n-1 numbers from gen.
std::vector<std::int64_t> random_permutation(std::int64_t n, Generator& gen);

}  // namespace kiln
