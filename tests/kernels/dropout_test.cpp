// Dropout: the mask is a pure function of (seed, offset + i), so we can demand bitwise equality
// between paths and thread counts, and check the statistics on a fixed, deterministic draw.
#include "kernels/dropout.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;

struct Dropped {
  std::vector<float> y, mask;
};

Dropped run_fast(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                 const std::vector<float>& x) {
  Dropped out{std::vector<float>(n, kSentinelB), std::vector<float>(n, kSentinelB)};
  dropout_forward_fast(n, p, seed, offset, x.data(), out.y.data(), out.mask.data());
  return out;
}

Dropped run_reference(std::int64_t n, double p, std::uint64_t seed, std::uint64_t offset,
                      const std::vector<float>& x) {
  Dropped out{std::vector<float>(n, kSentinelA), std::vector<float>(n, kSentinelA)};
  dropout_forward_reference<float>(n, p, seed, offset, x.data(), out.y.data(), out.mask.data());
  return out;
}

TEST(DropoutKernels, ZeroRateIsIdentityWithUnitMask) {
  const std::int64_t n = 1000;
  const auto x = test::random_floats(n, 600);
  for (const Dropped& d : {run_reference(n, 0.0, 1, 0, x), run_fast(n, 0.0, 1, 0, x)}) {
    EXPECT_EQ(d.y, x);
    EXPECT_EQ(d.mask, std::vector<float>(n, 1.f));
  }
  const std::vector<double> xd(x.begin(), x.end());
  std::vector<double> y(n, kSentinelA), mask(n, kSentinelA);
  dropout_forward_reference<double>(n, 0.0, 1, 0, xd.data(), y.data(), mask.data());
  EXPECT_EQ(y, xd);
  EXPECT_EQ(mask, std::vector<double>(n, 1.0));
}

TEST(DropoutKernels, HalfRateKeepsHalfAndScalesExactly) {
  const std::int64_t n = 100000;
  const auto x = test::random_floats(n, 601);
  const Dropped d = run_fast(n, 0.5, 42, 0, x);
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (d.mask[i] != 0.f) {
      ++kept;
      // 1 / (1 - 0.5) = 2 is exact, so x * mask must equal x / (1 - p) to the bit.
      ASSERT_EQ(d.mask[i], 2.f) << i;
      ASSERT_EQ(d.y[i], x[i] / 0.5f) << i;
    } else {
      ASSERT_EQ(d.y[i], 0.f) << i;
    }
  }
  // The kept count is Binomial(n, 0.5): standard deviation sqrt(0.25 / n) = 0.0016 in the
  // fraction. We allow 5 sigma (0.008), which a sound generator exceeds with probability ~6e-7
  // for an arbitrary seed; the seed is fixed, so the test is deterministic either way.
  EXPECT_NEAR(double(kept) / n, 0.5, 5 * std::sqrt(0.25 / n));
}

TEST(DropoutKernels, InexactScaleStillMultipliesByMask) {
  // 1 / (1 - 0.3) is not exact in float: y is x * mask (one rounding), which may differ from
  // x / 0.7 by an ulp, so we check the contract y == x * mask exactly and the value closely.
  const std::int64_t n = 1000;
  const auto x = test::random_floats(n, 602);
  const Dropped d = run_fast(n, 0.3, 7, 0, x);
  const float keep_scale = float(1.0 / 0.7);
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(d.mask[i] == 0.f || d.mask[i] == keep_scale) << i << ": " << d.mask[i];
    ASSERT_EQ(d.y[i], x[i] * d.mask[i]) << i;
    if (d.mask[i] != 0.f) {
      ASSERT_NEAR(d.y[i], x[i] / 0.7, 2e-7 * std::fabs(x[i] / 0.7)) << i;
    }
  }
}

TEST(DropoutKernels, FastMatchesReferenceBitwiseAtEveryThreadCount) {
  std::uint64_t seed = 610;
  for (std::int64_t n : {1, 17, 1000, 100003}) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto x = test::random_floats(n, ++seed);
    const Dropped ref = run_reference(n, 0.4, seed, 12345, x);
    const int saved_threads = omp_get_max_threads();
    for (int threads : {1, 2, 3, 7}) {
      SCOPED_TRACE(testing::Message() << threads << " threads");
      omp_set_num_threads(threads);
      const Dropped fast = run_fast(n, 0.4, seed, 12345, x);
      EXPECT_EQ(fast.mask, ref.mask);
      EXPECT_EQ(fast.y, ref.y);
    }
    omp_set_num_threads(saved_threads);
    // The double path draws the same numbers, so it keeps the same elements.
    const std::vector<double> xd(x.begin(), x.end());
    std::vector<double> y(n, kSentinelA), mask(n, kSentinelA);
    dropout_forward_reference<double>(n, 0.4, seed, 12345, xd.data(), y.data(), mask.data());
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(mask[i] != 0, ref.mask[i] != 0) << i;
  }
}

TEST(DropoutKernels, SameSeedAndOffsetRepeatDifferentOnesDoNot) {
  const std::int64_t n = 1000;
  const auto x = test::random_floats(n, 620);
  const Dropped a = run_fast(n, 0.5, 9, 0, x);
  EXPECT_EQ(run_fast(n, 0.5, 9, 0, x).mask, a.mask);
  // With p = 0.5 two independent masks of 1000 elements coincide with probability 2^-1000.
  EXPECT_NE(run_fast(n, 0.5, 9, 1000, x).mask, a.mask) << "different offset";
  EXPECT_NE(run_fast(n, 0.5, 10, 0, x).mask, a.mask) << "different seed";
}

TEST(DropoutKernels, OffsetContinuesTheStream) {
  // Drawing 2n elements at once equals drawing n at offset 0 and n more at offset n: this is how
  // a layer splits a tensor into chunks (or devices) without changing the mask.
  const std::int64_t n = 777;
  const auto x = test::random_floats(2 * n, 630);
  const Dropped whole = run_fast(2 * n, 0.5, 3, 500, x);
  const std::vector<float> x_tail(x.begin() + n, x.end());
  const Dropped tail = run_reference(n, 0.5, 3, 500 + n, x_tail);
  EXPECT_EQ(tail.mask, std::vector<float>(whole.mask.begin() + n, whole.mask.end()));
}

}  // namespace
}  // namespace kiln::kernels::cpu
