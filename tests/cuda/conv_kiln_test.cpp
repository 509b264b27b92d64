// Kiln's own implicit-GEMM engine (conv2d_*_kiln, gemm_kiln) against the CPU: the reference
// convolutions and a triple-loop GEMM, in double on the same float inputs, so the whole error
// budget belongs to the GPU. Device outputs start as kSentinelB and reference outputs as
// kSentinelA, so an element never written cannot pass. Skips, with the reason, without a device.
//
// Tolerances, for an output summing T products of inputs uniform in [-1, 1):
// - FP32: 1e-4 * (1 + sqrt(T)), as in conv_linear_test.cpp. Float sums in any tile or split-K
//   order err by a few ulps of partial sums, ~1e-7 * sqrt(T) at random; a wrong index errs by
//   about the output's rms, sqrt(T)/3.
// - TF32: 2e-3 * S + 1e-6, where S = the sum of |terms| (the reference run on |inputs|). A rigorous
//   bound, not a statistical one: rounding each operand to TF32 (10 mantissa bits, round to
//   nearest) errs by at most 2^-11 each, so a product by under 2^-10 ~ 9.8e-4 of its magnitude,
//   and float accumulation adds at most T * 2^-24 * S (under 3e-4 * S for T <= 4608 here).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_memory.h"
#include "kernels/gemm.h"
#include "tests/cuda/cuda_test.h"
#include "tests/cuda/device_vector.h"
#include "tests/cuda/parity.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;
using kernels::Conv2dGeometry;
using test::DeviceVector;
using test::kSentinelA;
using test::kSentinelB;
using test::MathModeScope;
using test::random_floats;
using test::w_size;
using test::widen;
using test::x_size;
using test::y_size;

std::vector<double> widen_abs(const std::vector<float>& v) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::abs(static_cast<double>(v[i]));
  return out;
}

// Checks gpu against ref element by element; `abs_terms` is the per-element sum of |terms| (used
// by TF32) and `terms` the number of products per element (used by FP32).
void expect_close(const std::vector<float>& gpu, const std::vector<double>& ref,
                  const std::vector<double>& abs_terms, std::int64_t terms, bool tf32,
                  const std::string& what) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  std::int64_t bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double tol =
        tf32 ? 2e-3 * abs_terms[i] + 1e-6 : 1e-4 * (1.0 + std::sqrt(static_cast<double>(terms)));
    const double err = std::abs(static_cast<double>(gpu[i]) - ref[i]);
    if (!(err <= tol)) {  // also catches NaN and the sentinel
      if (bad < 5)
        ADD_FAILURE() << what << ": element " << i << " of " << ref.size() << " is " << gpu[i]
                      << ", reference " << ref[i] << " (error " << err << ", tolerance " << tol
                      << ")";
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size() << " elements out of tolerance";
}

struct ConvCase {
  const char* name;
  Conv2dGeometry g;
};

std::ostream& operator<<(std::ostream& out, const ConvCase& c) { return out << c.name; }

Conv2dGeometry vgg(std::int64_t c, std::int64_t hw, std::int64_t k) {
  return Conv2dGeometry{2, c, hw, hw, k, 3, 3, 1, 1, 1, 1};  // batch 2, 3x3, stride 1, pad 1
}

// VGG16's 13 convolutions at CIFAR-10's 32x32 come in 9 distinct shapes (block3's, block4's and
// block5's repeats are identical); then odd shapes: no side a multiple of a tile, stride 2, 1x1,
// asymmetric windows and padding, C*R*S = 27 as in VGG's first layer.
const ConvCase kCases[] = {
    {"vgg_block1_conv1", vgg(3, 32, 64)},
    {"vgg_block1_conv2", vgg(64, 32, 64)},
    {"vgg_block2_conv1", vgg(64, 16, 128)},
    {"vgg_block2_conv2", vgg(128, 16, 128)},
    {"vgg_block3_conv1", vgg(128, 8, 256)},
    {"vgg_block3_conv2", vgg(256, 8, 256)},
    {"vgg_block4_conv1", vgg(256, 4, 512)},
    {"vgg_block4_conv2", vgg(512, 4, 512)},
    {"vgg_block5_conv1", vgg(512, 2, 512)},
    {"odd_sizes", {3, 5, 11, 13, 7, 3, 3, 1, 1, 1, 1}},
    {"stride2", {3, 5, 11, 11, 7, 3, 3, 2, 2, 1, 1}},
    {"stride2_even", {2, 9, 16, 16, 130, 3, 3, 2, 2, 1, 1}},
    {"window1x1", {3, 16, 7, 7, 8, 1, 1, 1, 1, 0, 0}},
    {"window5x3_pad2x1", {2, 4, 9, 10, 6, 5, 3, 1, 1, 2, 1}},
    {"window3x2_stride3x2_pad1x0", {2, 3, 11, 9, 4, 3, 2, 3, 2, 1, 0}},
    {"many_channels_tiny_image", {5, 200, 3, 3, 150, 3, 3, 1, 1, 1, 1}},
};

using ConvParam = std::tuple<ConvCase, bool /*bias*/, cuda::MathMode>;

class KilnConv2d : public ::testing::TestWithParam<ConvParam> {};

TEST_P(KilnConv2d, AllThreeDirectionsMatchTheCpuReference) {
  KILN_REQUIRE_CUDA();
  const auto& [c, with_bias, mode] = GetParam();
  const MathModeScope scope(mode);
  const bool tf32 = mode == cuda::MathMode::TF32;
  const Conv2dGeometry& g = c.g;
  const std::uint64_t seed = 7000 + static_cast<std::uint64_t>(x_size(g) + 7 * w_size(g));
  const std::vector<float> x = random_floats(x_size(g), seed);
  const std::vector<float> w = random_floats(w_size(g), seed + 1);
  const std::vector<float> b = random_floats(g.k, seed + 2);
  const std::vector<float> gy = random_floats(y_size(g), seed + 3);
  const std::vector<double> xd = widen(x), wd = widen(w), bd = widen(b), gyd = widen(gy);
  const std::vector<double> xa = widen_abs(x), wa = widen_abs(w), ba = widen_abs(b),
                            gya = widen_abs(gy);
  const DeviceVector<float> x_dev(x), w_dev(w), b_dev(b), gy_dev(gy);
  namespace ref = kernels::cpu;

  {  // forward
    std::vector<double> want(y_size(g), kSentinelA), bound(y_size(g), kSentinelA);
    ref::conv2d_forward_reference<double>(g, xd.data(), wd.data(), with_bias ? bd.data() : nullptr,
                                          want.data());
    ref::conv2d_forward_reference<double>(g, xa.data(), wa.data(), with_bias ? ba.data() : nullptr,
                                          bound.data());
    DeviceVector<float> y(y_size(g), kSentinelB);
    cuda::conv2d_forward_kiln(g, x_dev.get(), w_dev.get(), with_bias ? b_dev.get() : nullptr,
                              y.get());
    expect_close(y.download(), want, bound, g.c * g.r * g.s, tf32, "forward");
  }
  {  // backward data
    std::vector<double> want(x_size(g), kSentinelA), bound(x_size(g), kSentinelA);
    ref::conv2d_backward_data_reference<double>(g, gyd.data(), wd.data(), want.data());
    ref::conv2d_backward_data_reference<double>(g, gya.data(), wa.data(), bound.data());
    DeviceVector<float> gx(x_size(g), kSentinelB);
    cuda::conv2d_backward_data_kiln(g, gy_dev.get(), w_dev.get(), gx.get());
    expect_close(gx.download(), want, bound, g.k * g.r * g.s, tf32, "backward data");
  }
  {  // backward weight and bias
    std::vector<double> want_w(w_size(g), kSentinelA), want_b(g.k, kSentinelA);
    std::vector<double> bound_w(w_size(g), kSentinelA), bound_b(g.k, kSentinelA);
    ref::conv2d_backward_weight_reference<double>(g, xd.data(), gyd.data(), want_w.data(),
                                                  want_b.data());
    ref::conv2d_backward_weight_reference<double>(g, xa.data(), gya.data(), bound_w.data(),
                                                  bound_b.data());
    DeviceVector<float> gw(w_size(g), kSentinelB), gb(g.k, kSentinelB);
    cuda::conv2d_backward_weight_kiln(g, x_dev.get(), gy_dev.get(), gw.get(),
                                      with_bias ? gb.get() : nullptr);
    const std::int64_t terms = g.n * g.p() * g.q();
    expect_close(gw.download(), want_w, bound_w, terms, tf32, "backward weight");
    if (with_bias) {
      // The bias gradient is a plain FP32 sum in both math modes.
      expect_close(gb.download(), want_b, bound_b, terms, false, "backward bias");
    } else {
      EXPECT_EQ(gb.download(), std::vector<float>(g.k, kSentinelB)) << "gb was null: untouched";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, KilnConv2d,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Bool(),
                                            ::testing::Values(cuda::MathMode::FP32,
                                                              cuda::MathMode::TF32)),
                         [](const ::testing::TestParamInfo<ConvParam>& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) ? "_bias_" : "_nobias_") +
                                  (std::get<2>(info.param) == cuda::MathMode::TF32 ? "TF32"
                                                                                   : "FP32");
                         });

// Split-K sums its slices in a fixed order and the bias gradient uses a fixed reduction tree, so
// running backward-weight twice gives the same bits. VGG block1 at batch 8: depth N*P*Q = 8192
// over a 64 x 576 output, which plan_gemm_tiling splits.
TEST(KilnConv2dDeterminism, BackwardWeightRepeatsBitForBit) {
  KILN_REQUIRE_CUDA();
  const Conv2dGeometry g{8, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1};
  const DeviceVector<float> x(random_floats(x_size(g), 91)), gy(random_floats(y_size(g), 92));
  for (const auto mode : {cuda::MathMode::FP32, cuda::MathMode::TF32}) {
    const MathModeScope scope(mode);
    DeviceVector<float> gw1(w_size(g), kSentinelA), gb1(g.k, kSentinelA);
    DeviceVector<float> gw2(w_size(g), kSentinelB), gb2(g.k, kSentinelB);
    cuda::conv2d_backward_weight_kiln(g, x.get(), gy.get(), gw1.get(), gb1.get());
    cuda::conv2d_backward_weight_kiln(g, x.get(), gy.get(), gw2.get(), gb2.get());
    test::expect_bitwise_equal(gw1.download(), gw2.download(), "gw");
    test::expect_bitwise_equal(gb1.download(), gb2.download(), "gb");
  }
}

// Empty sums: no input channels leave y = bias; no output channels leave gx = 0; an empty batch
// leaves gw = gb = 0.
TEST(KilnConv2dEmpty, EmptySumsAreWritten) {
  KILN_REQUIRE_CUDA();
  {
    const Conv2dGeometry g{2, 0, 4, 4, 3, 3, 3, 1, 1, 1, 1};
    const DeviceVector<float> b(std::vector<float>{0.5f, -1.5f, 2.f});
    DeviceVector<float> y(y_size(g), kSentinelB);
    cuda::conv2d_forward_kiln(g, nullptr, nullptr, b.get(), y.get());
    const std::vector<float> out = y.download();
    for (std::size_t i = 0; i < out.size(); ++i)
      ASSERT_EQ(out[i], (std::vector<float>{0.5f, -1.5f, 2.f}[(i / 16) % 3])) << i;
  }
  {
    const Conv2dGeometry g{2, 3, 4, 4, 0, 3, 3, 1, 1, 1, 1};
    DeviceVector<float> gx(x_size(g), kSentinelB);
    cuda::conv2d_backward_data_kiln(g, nullptr, nullptr, gx.get());
    EXPECT_EQ(gx.download(), std::vector<float>(x_size(g), 0.f));
  }
  {
    const Conv2dGeometry g{0, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1};
    DeviceVector<float> gw(w_size(g), kSentinelB), gb(g.k, kSentinelB);
    cuda::conv2d_backward_weight_kiln(g, nullptr, nullptr, gw.get(), gb.get());
    EXPECT_EQ(gw.download(), std::vector<float>(w_size(g), 0.f));
    EXPECT_EQ(gb.download(), std::vector<float>(g.k, 0.f));
  }
}

// gemm_kiln, all four transpose combinations, both precisions, sizes that hit the 64 and 128
// tiles, edge tiles on every side, split-K (small output, long depth) and K = 0.
using GemmParam = std::tuple<cuda::GemmPrecision, bool /*trans_a*/, bool /*trans_b*/>;
class KilnGemm : public ::testing::TestWithParam<GemmParam> {};

TEST_P(KilnGemm, MatchesTheTripleLoop) {
  KILN_REQUIRE_CUDA();
  // Named variables, not a structured binding: the lambdas below capture them, which C++17
  // allows only for variables (clang refuses the binding; gcc takes it as an extension).
  const cuda::GemmPrecision precision = std::get<0>(GetParam());
  const bool ta = std::get<1>(GetParam()), tb = std::get<2>(GetParam());
  const bool tf32 = precision == cuda::GemmPrecision::TF32;
  const std::int64_t sizes[][3] = {{1, 1, 1},      {7, 50, 19},    {64, 64, 64},   {130, 257, 33},
                                   {200, 3, 1000}, {33, 17, 4099}, {256, 384, 72}, {5, 9, 0}};
  for (const auto& size : sizes) {
    const std::int64_t m = size[0], n = size[1], k = size[2];
    SCOPED_TRACE(::testing::Message() << "M " << m << " N " << n << " K " << k);
    const std::vector<float> a = random_floats(m * k, 300 + m), b = random_floats(k * n, 400 + n);
    // a and b are the STORED matrices: (M,K) or (K,M) when trans_a; (K,N) or (N,K) when trans_b.
    auto at = [&](std::int64_t i, std::int64_t l) { return ta ? a[l * m + i] : a[i * k + l]; };
    auto bt = [&](std::int64_t l, std::int64_t j) { return tb ? b[j * k + l] : b[l * n + j]; };
    std::vector<double> want(m * n, 0.0), bound(m * n, 0.0);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t l = 0; l < k; ++l) {
          const double t = static_cast<double>(at(i, l)) * bt(l, j);
          want[i * n + j] += t;
          bound[i * n + j] += std::abs(t);
        }
    const DeviceVector<float> a_dev(a), b_dev(b);
    DeviceVector<float> c(m * n, kSentinelB);
    cuda::gemm_kiln(precision, ta, tb, m, n, k, a_dev.get(), b_dev.get(), c.get());
    expect_close(c.download(), want, bound, k, tf32, "gemm");
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTransposes, KilnGemm,
    ::testing::Combine(::testing::Values(cuda::GemmPrecision::FP32, cuda::GemmPrecision::TF32),
                       ::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<GemmParam>& info) {
      return std::string(std::get<0>(info.param) == cuda::GemmPrecision::TF32 ? "TF32" : "FP32") +
             (std::get<1>(info.param) ? "_At" : "_A") + (std::get<2>(info.param) ? "_Bt" : "_B");
    });

}  // namespace
}  // namespace kiln
