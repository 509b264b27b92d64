// Dense kernels: a tiny case worked by hand, then the float reference and the BLAS path against
// the double reference at shapes that are odd, tiny, and larger than any BLAS blocking.
#include "kernels/linear.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> abs_of(const std::vector<float>& v) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(v[i]);
  return out;
}

// Each output is a float sum of `terms` products. Higham's bound for recursive or blocked
// summation is |error| <= gamma_terms * sum|products|, gamma ~ terms * FLT_EPSILON / 2; we allow
// twice that (+2 terms for the bias and the final rounding). A wrong index or a dropped term is
// off by a whole |product| and cannot hide under it; `abs_bound` is sum|products| per output.
void expect_within_dot_bound(const std::vector<float>& got, const std::vector<double>& truth,
                             const std::vector<double>& abs_bound, std::int64_t terms,
                             const char* what) {
  ASSERT_EQ(got.size(), truth.size());
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = (terms + 2) * double(FLT_EPSILON) * abs_bound[i];
    if (std::fabs(got[i] - truth[i]) > tol && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", expected " << truth[i]
                    << " within " << tol;
  }
}

TEST(LinearKernels, HandComputedTinyCase) {
  // x (2,3), w (3,2) in Keras' (in, out) layout, b (2).
  const std::vector<double> x = {1, 2, 3, 4, 5, 6}, w = {1, -1, 0, 2, 3, 0.5}, b = {10, -10};
  // y[0] = [1*1 + 2*0 + 3*3, 1*-1 + 2*2 + 3*0.5] + b = [10, 4.5] + b = [20, -5.5]
  // y[1] = [4*1 + 5*0 + 6*3, 4*-1 + 5*2 + 6*0.5] + b = [22, 9] + b = [32, -1]
  const std::vector<double> y_expected = {20, -5.5, 32, -1};
  const std::vector<double> gy = {1, 2, -1, 0.5};
  // gx = gy @ w^T: row 0 = [1*1 + 2*-1, 1*0 + 2*2, 1*3 + 2*0.5] = [-1, 4, 4]
  //                row 1 = [-1*1 + 0.5*-1, 0 + 0.5*2, -1*3 + 0.5*0.5] = [-1.5, 1, -2.75]
  const std::vector<double> gx_expected = {-1, 4, 4, -1.5, 1, -2.75};
  // gw = x^T @ gy: gw[p][j] = x[0][p]*gy[0][j] + x[1][p]*gy[1][j]
  //   p=0: [1*1 + 4*-1, 1*2 + 4*0.5] = [-3, 4];  p=1: [2 - 5, 4 + 2.5] = [-3, 6.5]
  //   p=2: [3 - 6, 6 + 3] = [-3, 9];  gb = column sums of gy = [0, 2.5]
  const std::vector<double> gw_expected = {-3, 4, -3, 6.5, -3, 9}, gb_expected = {0, 2.5};

  // All values and partial sums are small integers or halves: exact in float and double.
  std::vector<double> y(4, kSentinelA), gx(6, kSentinelA), gw(6, kSentinelA), gb(2, kSentinelA);
  linear_forward_reference<double>(2, 3, 2, x.data(), w.data(), b.data(), y.data());
  linear_backward_data_reference<double>(2, 3, 2, gy.data(), w.data(), gx.data());
  linear_backward_weight_reference<double>(2, 3, 2, x.data(), gy.data(), gw.data(), gb.data());
  EXPECT_EQ(y, y_expected);
  EXPECT_EQ(gx, gx_expected);
  EXPECT_EQ(gw, gw_expected);
  EXPECT_EQ(gb, gb_expected);

  const std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end()),
      gyf(gy.begin(), gy.end());
  for (bool blas : {false, true}) {
    SCOPED_TRACE(blas ? "blas" : "float reference");
    const float s = blas ? kSentinelB : kSentinelA;
    std::vector<float> yf(4, s), gxf(6, s), gwf(6, s), gbf(2, s);
    if (blas) {
      linear_forward_blas(2, 3, 2, xf.data(), wf.data(), bf.data(), yf.data());
      linear_backward_data_blas(2, 3, 2, gyf.data(), wf.data(), gxf.data());
      linear_backward_weight_blas(2, 3, 2, xf.data(), gyf.data(), gwf.data(), gbf.data());
    } else {
      linear_forward_reference<float>(2, 3, 2, xf.data(), wf.data(), bf.data(), yf.data());
      linear_backward_data_reference<float>(2, 3, 2, gyf.data(), wf.data(), gxf.data());
      linear_backward_weight_reference<float>(2, 3, 2, xf.data(), gyf.data(), gwf.data(),
                                              gbf.data());
    }
    EXPECT_EQ(to_double(yf), y_expected);
    EXPECT_EQ(to_double(gxf), gx_expected);
    EXPECT_EQ(to_double(gwf), gw_expected);
    EXPECT_EQ(to_double(gbf), gb_expected);
  }
}

TEST(LinearKernels, FloatPathsMatchDoubleReference) {
  std::uint64_t seed = 100;
  for (std::int64_t m : {1, 3, 64})
    for (std::int64_t k : {5, 512})
      for (std::int64_t n : {7, 256})
        for (bool with_bias : {true, false}) {
          SCOPED_TRACE(testing::Message() << "m=" << m << " k=" << k << " n=" << n
                                          << (with_bias ? " bias" : " no bias"));
          const auto x = test::random_floats(m * k, ++seed), w = test::random_floats(k * n, ++seed),
                     b = test::random_floats(n, ++seed), gy = test::random_floats(m * n, ++seed);
          const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), gyd = to_double(gy);
          const auto xa = abs_of(x), wa = abs_of(w), ba = abs_of(b), gya = abs_of(gy);
          const double* bd_or_null = with_bias ? bd.data() : nullptr;
          const double* ba_or_null = with_bias ? ba.data() : nullptr;
          const float* b_or_null = with_bias ? b.data() : nullptr;

          // Truth and per-output sum|products| from the double reference (|x| @ |w| + |b|).
          std::vector<double> y(m * n), y_abs(m * n), gx(m * k), gx_abs(m * k), gw(k * n),
              gw_abs(k * n), gb(n), gb_abs(n);
          linear_forward_reference<double>(m, k, n, xd.data(), wd.data(), bd_or_null, y.data());
          linear_forward_reference<double>(m, k, n, xa.data(), wa.data(), ba_or_null, y_abs.data());
          linear_backward_data_reference<double>(m, k, n, gyd.data(), wd.data(), gx.data());
          linear_backward_data_reference<double>(m, k, n, gya.data(), wa.data(), gx_abs.data());
          linear_backward_weight_reference<double>(m, k, n, xd.data(), gyd.data(), gw.data(),
                                                   gb.data());
          linear_backward_weight_reference<double>(m, k, n, xa.data(), gya.data(), gw_abs.data(),
                                                   gb_abs.data());

          for (bool blas : {false, true}) {
            SCOPED_TRACE(blas ? "blas" : "float reference");
            const float s = blas ? kSentinelB : kSentinelA;
            std::vector<float> yf(m * n, s), gxf(m * k, s), gwf(k * n, s), gbf(n, s);
            if (blas) {
              linear_forward_blas(m, k, n, x.data(), w.data(), b_or_null, yf.data());
              linear_backward_data_blas(m, k, n, gy.data(), w.data(), gxf.data());
              linear_backward_weight_blas(m, k, n, x.data(), gy.data(), gwf.data(), gbf.data());
            } else {
              linear_forward_reference<float>(m, k, n, x.data(), w.data(), b_or_null, yf.data());
              linear_backward_data_reference<float>(m, k, n, gy.data(), w.data(), gxf.data());
              linear_backward_weight_reference<float>(m, k, n, x.data(), gy.data(), gwf.data(),
                                                      gbf.data());
            }
            expect_within_dot_bound(yf, y, y_abs, k, "y");
            expect_within_dot_bound(gxf, gx, gx_abs, n, "gx");
            expect_within_dot_bound(gwf, gw, gw_abs, m, "gw");
            expect_within_dot_bound(gbf, gb, gb_abs, m, "gb");
          }
        }
}

TEST(LinearKernels, NullBiasGradientIsSkipped) {
  // gb == nullptr must only skip the bias gradient; gw is still written in full.
  const std::int64_t m = 3, k = 5, n = 7;
  const auto x = test::random_floats(m * k, 1), gy = test::random_floats(m * n, 2);
  std::vector<float> gw_ref(k * n, kSentinelA), gw_blas(k * n, kSentinelB);
  linear_backward_weight_reference<float>(m, k, n, x.data(), gy.data(), gw_ref.data(), nullptr);
  linear_backward_weight_blas(m, k, n, x.data(), gy.data(), gw_blas.data(), nullptr);
  // Sums of 3 products: both paths round alike to within a couple of ulps of values below 3.
  for (std::int64_t i = 0; i < k * n; ++i) EXPECT_NEAR(gw_ref[i], gw_blas[i], 1e-6f) << i;
}

}  // namespace
}  // namespace kiln::kernels::cpu
