// Comparisons for the CUDA-vs-CPU kernel parity tests. Bitwise where both devices perform the
// same IEEE operations in the same order; within a stated tolerance elsewhere. A failure names the
// first differing element and both values, then stops (one message, not a million).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kiln::test {

// The softmax cross-entropy's tolerances, on the GPU and under emulation alike: expf and the
// float sums differ from the CPU's by a few ulps, far below 2e-6 relative.
constexpr double kProbRelTol = 2e-6;
constexpr double kLossTol = 2e-6;

inline std::uint32_t float_bits(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Same bits, element for element (so NaN == NaN with the same payload, and -0 != +0).
inline void expect_bitwise_equal(const std::vector<float>& cpu, const std::vector<float>& gpu,
                                 const char* what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i)
    ASSERT_EQ(float_bits(cpu[i]), float_bits(gpu[i]))
        << what << ": element " << i << " of " << cpu.size() << ", cpu " << cpu[i] << ", gpu "
        << gpu[i];
}

template <typename T>
void expect_equal(const std::vector<T>& cpu, const std::vector<T>& gpu, const char* what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i)
    ASSERT_EQ(cpu[i], gpu[i]) << what << ": element " << i << " of " << cpu.size();
}

// |cpu - gpu| <= abs_tol + rel_tol * |cpu| for every element.
inline void expect_close(const std::vector<float>& cpu, const std::vector<float>& gpu,
                         double rel_tol, double abs_tol, const char* what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const double a = cpu[i], b = gpu[i];
    ASSERT_LE(std::abs(a - b), abs_tol + rel_tol * std::abs(a))
        << what << ": element " << i << " of " << cpu.size() << ", cpu " << a << ", gpu " << b;
  }
}

}  // namespace kiln::test
