// The implicit-GEMM problem definitions (kernels/implicit_gemm.h), evaluated naively on the host in
// double, against the reference convolutions and a plain triple loop. The CUDA kernels only tile
// and sum what these definitions say, so this proves the index mapping, gathers, padding and
// scatter stores on every CI run, GPU or not. Each output is also evaluated split-K style, slice
// by slice as plan_gemm_tiling cuts depth, to show the slices cover depth exactly once. The
// tiling itself is implicit_gemm_emulated_test.cpp's job: it runs the kernels on the CPU.
//
// Tolerance: both sides sum the same products in double, in different orders, so they agree to a
// few ulps of the sum of |terms| (< 1e-13 here); a wrong index errs by about a whole term.
#include "kernels/implicit_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "tests/support/naive_implicit_gemm.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

using test::evaluate_naively;
using test::kSentinelA;
using test::kSentinelB;
using test::random_doubles;

void expect_near_all(const std::vector<double>& expected, const std::vector<double>& actual,
                     const char* what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (std::size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(expected[i], actual[i], 1e-11) << what << ": element " << i;
}

struct ConvCase {
  const char* name;
  Conv2dGeometry g;
};

std::ostream& operator<<(std::ostream& out, const ConvCase& c) { return out << c.name; }

// (n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w)
const ConvCase kCases[] = {
    {"vgg_3x3_pad1", {2, 5, 8, 8, 6, 3, 3, 1, 1, 1, 1}},
    {"vgg_first_layer_crs27", {2, 3, 7, 7, 8, 3, 3, 1, 1, 1, 1}},
    {"stride2_pad1", {2, 4, 9, 9, 5, 3, 3, 2, 2, 1, 1}},
    {"stride2_even_input", {1, 3, 10, 8, 4, 3, 3, 2, 2, 1, 1}},
    {"window1x1", {3, 7, 5, 6, 4, 1, 1, 1, 1, 0, 0}},
    {"window5x3_pad2x1", {2, 3, 9, 7, 5, 5, 3, 1, 1, 2, 1}},
    {"window3x2_stride3x2_pad1x0", {2, 3, 11, 9, 4, 3, 2, 3, 2, 1, 0}},
    {"window_larger_than_stride_odd_crs", {1, 7, 6, 5, 3, 2, 5, 1, 2, 0, 2}},
    {"long_depth_splits", {4, 2, 16, 16, 3, 3, 3, 1, 1, 1, 1}},  // depth N*P*Q = 1024 is split
};

class ImplicitGemmConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ImplicitGemmConv, ForwardMatchesTheReference) {
  const Conv2dGeometry& g = GetParam().g;
  const std::int64_t y_size = g.n * g.k * g.p() * g.q();
  const auto x = random_doubles(g.n * g.c * g.h * g.w, 11);
  const auto w = random_doubles(g.k * g.c * g.r * g.s, 12);
  const auto b = random_doubles(g.k, 13);
  for (const bool bias : {false, true}) {
    std::vector<double> ref(y_size, kSentinelA), y(y_size, kSentinelB);
    cpu::conv2d_forward_reference<double>(g, x.data(), w.data(), bias ? b.data() : nullptr,
                                          ref.data());
    const ConvForwardProblem<double> p(make_conv_shape(g), x.data(), w.data(),
                                       bias ? b.data() : nullptr, y.data());
    ASSERT_EQ(p.rows, g.k);
    ASSERT_EQ(p.cols, g.n * g.p() * g.q());
    ASSERT_EQ(p.depth, g.c * g.r * g.s);
    evaluate_naively(p);
    expect_near_all(ref, y, bias ? "forward with bias" : "forward");
  }
}

TEST_P(ImplicitGemmConv, BackwardDataMatchesTheReference) {
  const Conv2dGeometry& g = GetParam().g;
  const std::int64_t x_size = g.n * g.c * g.h * g.w;
  const auto gy = random_doubles(g.n * g.k * g.p() * g.q(), 21);
  const auto w = random_doubles(g.k * g.c * g.r * g.s, 22);
  std::vector<double> ref(x_size, kSentinelA), gx(x_size, kSentinelB);
  cpu::conv2d_backward_data_reference<double>(g, gy.data(), w.data(), ref.data());
  const ConvBackwardDataProblem<double> p(make_conv_shape(g), gy.data(), w.data(), gx.data());
  ASSERT_EQ(p.rows, g.c);
  ASSERT_EQ(p.cols, g.n * g.h * g.w);
  ASSERT_EQ(p.depth, g.k * g.r * g.s);
  evaluate_naively(p);
  expect_near_all(ref, gx, "backward data");
}

TEST_P(ImplicitGemmConv, BackwardWeightMatchesTheReference) {
  const Conv2dGeometry& g = GetParam().g;
  const std::int64_t w_size = g.k * g.c * g.r * g.s;
  const auto x = random_doubles(g.n * g.c * g.h * g.w, 31);
  const auto gy = random_doubles(g.n * g.k * g.p() * g.q(), 32);
  std::vector<double> ref(w_size, kSentinelA), gw(w_size, kSentinelB);
  cpu::conv2d_backward_weight_reference<double>(g, x.data(), gy.data(), ref.data(), nullptr);
  const ConvBackwardWeightProblem<double> p(make_conv_shape(g), x.data(), gy.data(), gw.data());
  ASSERT_EQ(p.rows, g.k);
  ASSERT_EQ(p.cols, g.c * g.r * g.s);
  ASSERT_EQ(p.depth, g.n * g.p() * g.q());
  evaluate_naively(p);
  expect_near_all(ref, gw, "backward weight");
}

INSTANTIATE_TEST_SUITE_P(Geometries, ImplicitGemmConv, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return std::string(info.param.name);
                         });

// Empty sums: with C == 0 the forward stores the bias alone; depth 0 is a valid problem.
TEST(ImplicitGemmConvEmpty, ZeroInputChannelsGiveTheBias) {
  const Conv2dGeometry g{2, 0, 4, 4, 3, 3, 3, 1, 1, 1, 1};
  const std::vector<double> b = {0.5, -1.5, 2.0};
  std::vector<double> y(g.n * g.k * g.p() * g.q(), kSentinelB);
  const ConvForwardProblem<double> p(make_conv_shape(g), nullptr, nullptr, b.data(), y.data());
  ASSERT_EQ(p.depth, 0);
  evaluate_naively(p);
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], b[(i / 16) % 3]) << "element " << i;
}

// Plain GEMM, all four transpose combinations, against the triple loop on the logical matrices.
TEST(ImplicitGemmMatrixProduct, AllTransposesMatchTheTripleLoop) {
  const int sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 9, 27}, {130, 3, 300}, {4, 6, 0}};
  for (const auto& size : sizes) {
    const int m = size[0], n = size[1], k = size[2];
    const auto a = random_doubles(static_cast<std::int64_t>(m) * k, 41);  // logical (M,K)
    const auto b = random_doubles(static_cast<std::int64_t>(k) * n, 42);  // logical (K,N)
    std::vector<double> ref(static_cast<std::size_t>(m) * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j)
        for (int l = 0; l < k; ++l) ref[i * n + j] += a[i * k + l] * b[l * n + j];
    std::vector<double> at(a.size()), bt(b.size());  // the transposed storage
    for (int i = 0; i < m; ++i)
      for (int l = 0; l < k; ++l) at[l * m + i] = a[i * k + l];
    for (int l = 0; l < k; ++l)
      for (int j = 0; j < n; ++j) bt[j * k + l] = b[l * n + j];
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        std::vector<double> c(ref.size(), kSentinelB);
        const MatrixProductProblem<double> p{
            ta ? at.data() : a.data(), tb ? bt.data() : b.data(), c.data(), m, n, k, ta, tb};
        evaluate_naively(p);
        SCOPED_TRACE(::testing::Message() << "M " << m << " N " << n << " K " << k << " trans_a "
                                          << ta << " trans_b " << tb);
        expect_near_all(ref, c, "gemm");
      }
    }
  }
}

// The tiling plan: slices are multiples of the kernels' depth step and cover depth exactly; small
// output grids with long depth get split, large ones do not.
TEST(ImplicitGemmTiling, SlicesCoverDepthAndSplitOnlyWhenTheGridIsSmall) {
  const int shapes[][3] = {{64, 576, 65536}, {512, 4608, 256}, {64, 65536, 27}, {1, 1, 1},
                           {7, 9, 0},        {128, 128, 128},  {3, 5, 100000},  {512, 8, 4608}};
  for (const auto& s : shapes) {
    const GemmTiling t = plan_gemm_tiling(s[0], s[1], s[2]);
    SCOPED_TRACE(::testing::Message() << s[0] << " x " << s[1] << " x " << s[2]);
    EXPECT_TRUE(t.tile == 64 || t.tile == 128);
    EXPECT_EQ(t.k_per_split % kGemmDepthQuantum, 0);
    EXPECT_GT(t.k_per_split, 0);
    EXPECT_GE(t.splits, 1);
    EXPECT_LE(t.splits, 64);
    EXPECT_GE(static_cast<std::int64_t>(t.splits) * t.k_per_split, s[2]);
    EXPECT_LT(static_cast<std::int64_t>(t.splits - 1) * t.k_per_split, std::max(s[2], 1));
  }
  EXPECT_GT(plan_gemm_tiling(64, 576, 65536).splits, 1);  // VGG block1 backward-weight, batch 64
  EXPECT_EQ(plan_gemm_tiling(64, 65536, 27).splits, 1);   // VGG block1 forward: grid is large
  EXPECT_EQ(plan_gemm_tiling(256, 256, 64).splits, 1);    // too little depth to split
  EXPECT_EQ(plan_gemm_tiling(128, 128, 128).tile, 128);
  EXPECT_EQ(plan_gemm_tiling(64, 4096, 128).tile, 64);
}

}  // namespace
}  // namespace kiln::kernels
