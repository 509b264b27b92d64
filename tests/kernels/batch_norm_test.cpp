// Batch-norm kernels (kernels/batch_norm.h): the OpenMP float path against the reference on
// random data (the same per-channel functions in the same order: bitwise), and the float
// reference against the double one (each computes in double and rounds once: within a float
// rounding of the double result's own float rounding), in both modes and with gx absent.
#include "kernels/batch_norm.h"

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
// One element; ragged HW; a map past the threading threshold (1 << 15 elements) with few
// channels; many channels of 1x1 maps.
const Shape kShapes[] = {{1, 1, 1}, {2, 3, 17}, {4, 16, 1024}, {64, 512, 1}};

struct Outputs {
  std::vector<float> mean, var, running_mean, running_var, y, gx, ggamma, gbeta;
  bool operator==(const Outputs& o) const {
    return mean == o.mean && var == o.var && running_mean == o.running_mean &&
           running_var == o.running_var && y == o.y && gx == o.gx && ggamma == o.ggamma &&
           gbeta == o.gbeta;
  }
};

// The whole training step (stats, forward, backward) on one engine.
Outputs run(bool fast, const Shape& s, bool batch_stats, std::uint64_t seed) {
  const std::int64_t total = s.n * s.k * s.hw;
  const auto x = test::random_floats(total, seed);
  const auto gy = test::random_floats(total, seed + 1);
  const auto gamma = test::random_floats(s.k, seed + 2);
  const auto beta = test::random_floats(s.k, seed + 3);
  const float fill = fast ? kSentinelB : kSentinelA;
  Outputs o{std::vector<float>(s.k, fill),   std::vector<float>(s.k, fill),
            std::vector<float>(s.k, 0.25f),  std::vector<float>(s.k, 2.0f),
            std::vector<float>(total, fill), std::vector<float>(total, fill),
            std::vector<float>(s.k, fill),   std::vector<float>(s.k, fill)};
  const double eps = 1e-3, momentum = 0.9;
  if (batch_stats) {
    (fast ? batch_norm_stats_fast
          : batch_norm_stats_reference<float>)(s.n, s.k, s.hw, x.data(), o.mean.data(),
                                               o.var.data(), momentum, o.running_mean.data(),
                                               o.running_var.data());
  } else {
    o.mean = o.running_mean;
    o.var = o.running_var;
  }
  (fast ? batch_norm_forward_fast
        : batch_norm_forward_reference<float>)(s.n, s.k, s.hw, eps, x.data(), o.mean.data(),
                                               o.var.data(), gamma.data(), beta.data(), o.y.data());
  (fast ? batch_norm_backward_fast
        : batch_norm_backward_reference<float>)(s.n, s.k, s.hw, eps, batch_stats, x.data(),
                                                gy.data(), o.mean.data(), o.var.data(),
                                                gamma.data(), o.gx.data(), o.ggamma.data(),
                                                o.gbeta.data());
  return o;
}

TEST(BatchNormKernels, FastMatchesReferenceExactly) {
  std::uint64_t seed = 300;
  for (const Shape& s : kShapes) {
    for (const bool batch_stats : {true, false}) {
      SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw
                                      << (batch_stats ? " batch" : " moving") << " statistics");
      seed += 10;
      const Outputs ref = run(false, s, batch_stats, seed);
      const Outputs fast = run(true, s, batch_stats, seed);
      EXPECT_TRUE(ref == fast);
      EXPECT_NE(ref.y[0], kSentinelA);
      EXPECT_NE(ref.gx.back(), kSentinelA);
    }
  }
}

TEST(BatchNormKernels, FloatReferenceRoundsTheDoubleOne) {
  const Shape s{3, 5, 49};
  const std::int64_t total = s.n * s.k * s.hw;
  const auto xf = test::random_floats(total, 41);
  const auto gyf = test::random_floats(total, 42);
  const std::vector<double> x(xf.begin(), xf.end()), gy(gyf.begin(), gyf.end());
  std::vector<float> meanf(s.k), varf(s.k), rmf(s.k, 0.f), rvf(s.k, 1.f), yf(total), gxf(total),
      ggf(s.k), gbf(s.k);
  std::vector<double> mean(s.k), var(s.k), rm(s.k, 0.0), rv(s.k, 1.0), y(total), gx(total), gg(s.k),
      gb(s.k);
  const std::vector<float> gammaf(s.k, 1.5f), betaf(s.k, -0.5f);
  const std::vector<double> gamma(s.k, 1.5), beta(s.k, -0.5);
  batch_norm_stats_reference<float>(s.n, s.k, s.hw, xf.data(), meanf.data(), varf.data(), 0.99,
                                    rmf.data(), rvf.data());
  batch_norm_stats_reference<double>(s.n, s.k, s.hw, x.data(), mean.data(), var.data(), 0.99,
                                     rm.data(), rv.data());
  for (std::int64_t c = 0; c < s.k; ++c) {
    EXPECT_EQ(meanf[c], static_cast<float>(mean[c]));
    EXPECT_EQ(varf[c], static_cast<float>(var[c]));
    EXPECT_NEAR(var[c], 1.0 / 3.0, 0.1);  // uniform in [-1, 1): variance 1/3
  }
  batch_norm_forward_reference<float>(s.n, s.k, s.hw, 1e-3, xf.data(), meanf.data(), varf.data(),
                                      gammaf.data(), betaf.data(), yf.data());
  batch_norm_forward_reference<double>(s.n, s.k, s.hw, 1e-3, x.data(), mean.data(), var.data(),
                                       gamma.data(), beta.data(), y.data());
  batch_norm_backward_reference<float>(s.n, s.k, s.hw, 1e-3, true, xf.data(), gyf.data(),
                                       meanf.data(), varf.data(), gammaf.data(), gxf.data(),
                                       ggf.data(), gbf.data());
  batch_norm_backward_reference<double>(s.n, s.k, s.hw, 1e-3, true, x.data(), gy.data(),
                                        mean.data(), var.data(), gamma.data(), gx.data(), gg.data(),
                                        gb.data());
  // The float path starts from float-rounded mean and var: a relative error of ~1e-7 each.
  for (std::int64_t i = 0; i < total; ++i) {
    ASSERT_NEAR(yf[i], y[i], 1e-5 * (1 + std::abs(y[i]))) << i;
    ASSERT_NEAR(gxf[i], gx[i], 1e-5 * (1 + std::abs(gx[i]))) << i;
  }
  for (std::int64_t c = 0; c < s.k; ++c) {
    EXPECT_NEAR(ggf[c], gg[c], 1e-5 * (1 + std::abs(gg[c])));
    EXPECT_EQ(gbf[c], static_cast<float>(gb[c]));  // sum of gy: no mean or var involved
  }
}

TEST(BatchNormKernels, AbsentInputGradientIsNotWritten) {
  const Shape s{2, 3, 5};
  const auto x = test::random_floats(30, 9), gy = test::random_floats(30, 10);
  const std::vector<float> mean(3, 0.f), var(3, 1.f), gamma(3, 1.f);
  std::vector<float> gg(3, kSentinelA), gb(3, kSentinelA);
  batch_norm_backward_fast(s.n, s.k, s.hw, 1e-3, true, x.data(), gy.data(), mean.data(), var.data(),
                           gamma.data(), nullptr, gg.data(), gb.data());
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 5; ++j) sum += gy[(i * 3 + c) * 5 + j];
    EXPECT_FLOAT_EQ(gb[c], static_cast<float>(sum));
  }
}

}  // namespace
}  // namespace kiln::kernels::cpu
