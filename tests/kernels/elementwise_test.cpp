// Elementwise kernels: the OpenMP float path against the float reference at sizes below one
// vector, ragged, and large enough to run threaded; then hand-checked values and the traps.
#include "kernels/elementwise.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;

// 1 and 17 are below / ragged against any vector width; 100003 (prime) crosses the threading
// threshold, so some chunk boundaries fall mid-vector.
const std::int64_t kSizes[] = {1, 17, 1000, 100003};

// add, mul, scale and relu are one correctly rounded IEEE operation (or a select) per element,
// so SIMD and threads cannot change a single bit: we demand exact equality.
TEST(ElementwiseKernels, FastMatchesReferenceExactly) {
  std::uint64_t seed = 200;
  for (std::int64_t n : kSizes) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto a = test::random_floats(n, ++seed), b = test::random_floats(n, ++seed);
    const float s = 0.37f;
    auto check = [&](auto reference, auto fast, const char* what) {
      std::vector<float> y_ref(n, kSentinelA), y_fast(n, kSentinelB);
      reference(y_ref.data());
      fast(y_fast.data());
      EXPECT_EQ(y_ref, y_fast) << what;
    };
    check([&](float* y) { add_reference<float>(n, a.data(), b.data(), y); },
          [&](float* y) { add_fast(n, a.data(), b.data(), y); }, "add");
    check([&](float* y) { mul_reference<float>(n, a.data(), b.data(), y); },
          [&](float* y) { mul_fast(n, a.data(), b.data(), y); }, "mul");
    check([&](float* y) { scale_reference<float>(n, a.data(), s, y); },
          [&](float* y) { scale_fast(n, a.data(), s, y); }, "scale");
    check([&](float* y) { relu_forward_reference<float>(n, a.data(), y); },
          [&](float* y) { relu_forward_fast(n, a.data(), y); }, "relu_forward");
    check([&](float* y) { relu_backward_reference<float>(n, a.data(), b.data(), y); },
          [&](float* y) { relu_backward_fast(n, a.data(), b.data(), y); }, "relu_backward");
  }
}

// axpy is a multiply then an add: a compiler may fuse them (FMA) in one path and not the other,
// a difference of at most one rounding of |alpha x| + |y|, so we allow two float epsilons of it.
TEST(ElementwiseKernels, AxpyFastMatchesReference) {
  std::uint64_t seed = 300;
  for (std::int64_t n : kSizes) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto x = test::random_floats(n, ++seed), y0 = test::random_floats(n, ++seed);
    const float alpha = -1.7f;
    std::vector<float> y_ref = y0, y_fast = y0;  // axpy accumulates: both start from the same y
    axpy_reference<float>(n, alpha, x.data(), y_ref.data());
    axpy_fast(n, alpha, x.data(), y_fast.data());
    for (std::int64_t i = 0; i < n; ++i) {
      const float tol = 2 * FLT_EPSILON * (std::fabs(alpha * x[i]) + std::fabs(y0[i]));
      ASSERT_NEAR(y_ref[i], y_fast[i], tol) << i;
    }
  }
}

// Both sum in double, but in different orders. Each float is exact in double, so the orders
// differ by at most n * DBL_EPSILON * sum|a| (Higham's bound for two summation orders).
TEST(ElementwiseKernels, SumFastMatchesReference) {
  std::uint64_t seed = 400;
  for (std::int64_t n : kSizes) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto a = test::random_floats(n, ++seed);
    double abs_sum = 0;
    for (float v : a) abs_sum += std::fabs(v);
    EXPECT_NEAR(sum_reference<float>(n, a.data()), sum_fast(n, a.data()),
                n * DBL_EPSILON * abs_sum);
  }
}

TEST(ElementwiseKernels, InPlaceFastMatchesOutOfPlaceReference) {
  const std::int64_t n = 100003;
  const auto a = test::random_floats(n, 500), b = test::random_floats(n, 501);
  std::vector<float> expected(n, kSentinelA);
  add_reference<float>(n, a.data(), b.data(), expected.data());
  std::vector<float> y = a;
  add_fast(n, y.data(), b.data(), y.data());
  EXPECT_EQ(y, expected) << "add, y == a";
  y = b;
  add_fast(n, a.data(), y.data(), y.data());
  EXPECT_EQ(y, expected) << "add, y == b";

  mul_reference<float>(n, a.data(), b.data(), expected.data());
  y = a;
  mul_fast(n, y.data(), b.data(), y.data());
  EXPECT_EQ(y, expected) << "mul, y == a";

  scale_reference<float>(n, a.data(), 3.f, expected.data());
  y = a;
  scale_fast(n, y.data(), 3.f, y.data());
  EXPECT_EQ(y, expected) << "scale, y == a";

  relu_forward_reference<float>(n, a.data(), expected.data());
  y = a;
  relu_forward_fast(n, y.data(), y.data());
  EXPECT_EQ(y, expected) << "relu, y == x";
}

TEST(ElementwiseKernels, HandComputedValuesInDouble) {
  const std::vector<double> a = {1.5, -2, 0, 4}, b = {0.5, 3, -1, -0.25};
  std::vector<double> y(4, kSentinelA);
  add_reference<double>(4, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (std::vector<double>{2, 1, -1, 3.75}));
  mul_reference<double>(4, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (std::vector<double>{0.75, -6, 0, -1}));
  scale_reference<double>(4, a.data(), -2.0, y.data());
  EXPECT_EQ(y, (std::vector<double>{-3, 4, 0, -8}));
  y = b;
  axpy_reference<double>(4, 2.0, a.data(), y.data());  // b + 2a, accumulated onto y
  EXPECT_EQ(y, (std::vector<double>{3.5, -1, -1, 7.75}));
  EXPECT_EQ(sum_reference<double>(4, a.data()), 3.5);
  relu_forward_reference<double>(4, a.data(), y.data());
  EXPECT_EQ(y, (std::vector<double>{1.5, 0, 0, 4}));
  std::vector<double> gx(4, kSentinelA);
  relu_backward_reference<double>(4, y.data(), b.data(), gx.data());
  EXPECT_EQ(gx, (std::vector<double>{0.5, 0, 0, -0.25}));
}

TEST(ElementwiseKernels, SumOfIntegersIsExact) {
  // 1 + 2 + ... + n = n(n+1)/2; every partial sum is an integer below 2^53, so exact in double
  // whatever the order, even though the total (5e9) is far beyond float's 2^24.
  const std::int64_t n = 100003;
  std::vector<float> a(n);
  for (std::int64_t i = 0; i < n; ++i) a[i] = float(i + 1);
  const double expected = double(n) * double(n + 1) / 2;
  EXPECT_EQ(sum_reference<float>(n, a.data()), expected);
  EXPECT_EQ(sum_fast(n, a.data()), expected);
}

// NOTE: the traps. relu'(0) is taken as 0 (as PyTorch), for +0 and -0 alike, and NaN inputs
// stay NaN rather than being silently zeroed.
TEST(ElementwiseKernels, ReluAtZeroAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {-1.f, -0.f, 0.f, 2.f, nan};
  const std::vector<float> gy = {10.f, 20.f, 30.f, 40.f, 50.f};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    std::vector<float> y(5, kSentinelA), gx(5, kSentinelA);
    if (fast) {
      relu_forward_fast(5, x.data(), y.data());
      relu_backward_fast(5, y.data(), gy.data(), gx.data());
    } else {
      relu_forward_reference<float>(5, x.data(), y.data());
      relu_backward_reference<float>(5, y.data(), gy.data(), gx.data());
    }
    EXPECT_EQ(y[0], 0.f);
    EXPECT_EQ(y[1], 0.f);
    EXPECT_EQ(y[2], 0.f);
    EXPECT_EQ(y[3], 2.f);
    EXPECT_TRUE(std::isnan(y[4]));
    EXPECT_EQ(gx, (std::vector<float>{0.f, 0.f, 0.f, 40.f, 0.f}));
  }
}

}  // namespace
}  // namespace kiln::kernels::cpu
