// Generator: a seeded stream of random numbers, one per purpose (init, shuffle, augmentation,
// dropout), all derived from one --seed. Counter-based (see kernels/random_bits.h): its whole
// state is (seed, offset), so a checkpoint restores it exactly, and a kernel can be handed a
// block of `reserve(n)` numbers to draw in parallel.
#pragma once

#include <cstdint>

namespace kiln {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t next_u64();
  double uniform();                           // [0, 1)
  double uniform(double lo, double hi);       // [lo, hi)
  double normal(double mean, double stddev);  // Box-Muller
  // Hands out n numbers [offset, offset + n) for a kernel to draw itself; returns offset.
  std::uint64_t reserve(std::uint64_t n);

  // A new, independent generator for purpose `stream` (e.g. 1 = init, 2 = shuffle...).
  Generator derive(std::uint64_t stream) const;

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

}  // namespace kiln
