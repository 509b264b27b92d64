// Per-channel NCHW bias kernels (kernels/bias.h): the OpenMP float path against the reference on
// random data, a hand-computed case, and the empty shapes.
//
// Tolerances: the add is one float add per element in both paths, so exact. The gradient sums
// each channel in double in both paths, in different orders, and rounds once to float: the double
// sums differ by ~1e-16 relative, so the floats differ by at most one rounding, 1e-6 relative.
#include "kernels/bias.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;

struct Shape {
  std::int64_t n, k, hw;
};
// One element; ragged HW against any vector width; a map larger than the threading threshold
// (1 << 15 elements) with few channels; many channels of 1x1 maps (VGG's block5 at 32 px, pooled).
const Shape kShapes[] = {{1, 1, 1}, {2, 3, 17}, {4, 64, 1024}, {3, 5, 49}, {64, 512, 1}};

TEST(BiasKernels, AddFastMatchesReferenceExactly) {
  std::uint64_t seed = 700;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw);
    const auto b = test::random_floats(s.k, ++seed);
    const auto y0 = test::random_floats(s.n * s.k * s.hw, ++seed);
    std::vector<float> y_ref = y0, y_fast = y0;  // the add accumulates: both start from y0
    bias_add_nchw_reference<float>(s.n, s.k, s.hw, b.data(), y_ref.data());
    bias_add_nchw_fast(s.n, s.k, s.hw, b.data(), y_fast.data());
    EXPECT_EQ(y_ref, y_fast);
  }
}

TEST(BiasKernels, GradFastMatchesReference) {
  std::uint64_t seed = 800;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw);
    const auto gy = test::random_floats(s.n * s.k * s.hw, ++seed);
    std::vector<float> gb_ref(s.k, kSentinelA), gb_fast(s.k, kSentinelB);
    bias_grad_nchw_reference<float>(s.n, s.k, s.hw, gy.data(), gb_ref.data());
    bias_grad_nchw_fast(s.n, s.k, s.hw, gy.data(), gb_fast.data());
    for (std::int64_t c = 0; c < s.k; ++c)
      EXPECT_NEAR(gb_fast[c], gb_ref[c], 1e-6 * std::abs(gb_ref[c]) + 1e-12) << "channel " << c;
  }
}

// y (2, 2, 3), b = (1, -2); gy (2, 2, 3) with channel sums worked out by hand.
TEST(BiasKernels, HandComputedCase) {
  const std::vector<float> b = {1.f, -2.f};
  const std::vector<float> y0 = {0.f, 1.f, 2.f, 3.f, 4.f,  5.f,    // image 0: channel 0, 1
                                 6.f, 7.f, 8.f, 9.f, 10.f, 11.f};  // image 1
  const std::vector<float> y_expected = {1.f, 2.f, 3.f, 1.f, 2.f, 3.f,
                                         7.f, 8.f, 9.f, 7.f, 8.f, 9.f};
  const std::vector<float> gy = {1.f, 2.f, 3.f, -1.f, 0.5f, 0.25f, 4.f, 5.f, 6.f, 10.f, 0.f, -3.f};
  // channel 0: 1 + 2 + 3 + 4 + 5 + 6 = 21; channel 1: -1 + 0.5 + 0.25 + 10 + 0 - 3 = 6.75
  const std::vector<float> gb_expected = {21.f, 6.75f};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    std::vector<float> y = y0, gb(2, kSentinelA);
    if (fast) {
      bias_add_nchw_fast(2, 2, 3, b.data(), y.data());
      bias_grad_nchw_fast(2, 2, 3, gy.data(), gb.data());
    } else {
      bias_add_nchw_reference<float>(2, 2, 3, b.data(), y.data());
      bias_grad_nchw_reference<float>(2, 2, 3, gy.data(), gb.data());
    }
    EXPECT_EQ(y, y_expected);
    EXPECT_EQ(gb, gb_expected);
  }
}

// An empty sum overwrites gb with 0 (N == 0 or HW == 0); the add then has nothing to touch.
TEST(BiasKernels, EmptySumsWriteZero) {
  const std::vector<float> b = {1.f, 2.f, 3.f};
  for (const Shape& s : {Shape{0, 3, 5}, Shape{4, 3, 0}}) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " hw=" << s.hw);
    std::vector<float> gb_ref(3, kSentinelA), gb_fast(3, kSentinelB);
    bias_grad_nchw_reference<float>(s.n, s.k, s.hw, nullptr, gb_ref.data());
    bias_grad_nchw_fast(s.n, s.k, s.hw, nullptr, gb_fast.data());
    EXPECT_EQ(gb_ref, std::vector<float>(3, 0.f));
    EXPECT_EQ(gb_fast, std::vector<float>(3, 0.f));
    bias_add_nchw_reference<float>(s.n, s.k, s.hw, b.data(), nullptr);
    bias_add_nchw_fast(s.n, s.k, s.hw, b.data(), nullptr);
  }
}

// The double instantiation sums in double too: a hand-checkable value with no float rounding.
TEST(BiasKernels, DoubleReference) {
  const std::vector<double> gy = {0.1, 0.2, 0.3, 0.4};  // (2, 1, 2)
  std::vector<double> gb(1, -1.0);
  bias_grad_nchw_reference<double>(2, 1, 2, gy.data(), gb.data());
  EXPECT_DOUBLE_EQ(gb[0], 1.0);
}

}  // namespace
}  // namespace kiln::kernels::cpu
