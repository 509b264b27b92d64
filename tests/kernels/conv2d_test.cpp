// Convolution kernels: the reference against hand arithmetic and against its own adjoint
// identities (so it is checked independently of any library), then oneDNN against the reference.
#include "kernels/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;
using test::random_doubles;
using test::random_floats;

std::int64_t x_size(const Conv2dGeometry& g) { return g.n * g.c * g.h * g.w; }
std::int64_t w_size(const Conv2dGeometry& g) { return g.k * g.c * g.r * g.s; }
std::int64_t y_size(const Conv2dGeometry& g) { return g.n * g.k * g.p() * g.q(); }

template <typename T>
T dot(const std::vector<T>& a, const std::vector<T>& b) {
  T sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Hand-computed cases. x is the 3x3 image 1..9 in row-major order, one channel, batch 1:
//   1 2 3
//   4 5 6
//   7 8 9
// and the weight is one 2x2 filter of ones, so every output is the sum of the cells its window
// covers. Exact in float: all values are small integers (plus 0.5).

template <typename T>
struct ConvKernels {  // one implementation of the three kernels
  void (*forward)(const Conv2dGeometry&, const T*, const T*, const T*, T*);
  void (*backward_data)(const Conv2dGeometry&, const T*, const T*, T*);
  void (*backward_weight)(const Conv2dGeometry&, const T*, const T*, T*, T*);
};

template <typename T>
void check_hand_cases(const ConvKernels<T>& kernels) {
  const std::vector<T> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<T> w = {1, 1, 1, 1};
  {
    // Stride 1, no padding: 2x2 output, windows at rows/cols {0,1} and {1,2}.
    //   y = [1+2+4+5, 2+3+5+6; 4+5+7+8, 5+6+8+9] + 0.5 = [12.5, 16.5; 24.5, 28.5]
    // With gy = [1 0; 0 2], only windows (0,0) and (1,1) send gradient back:
    //   gx = 1 * (ones on rows 0-1, cols 0-1) + 2 * (ones on rows 1-2, cols 1-2)
    //      = [1 1 0; 1 3 2; 0 2 2]
    //   gw[r][s] = 1 * x[r][s] + 2 * x[r+1][s+1] = [1+10, 2+12; 4+16, 5+18] = [11 14; 20 23]
    //   gb = 1 + 0 + 0 + 2 = 3
    const Conv2dGeometry g{1, 1, 3, 3, 1, 2, 2};
    const std::vector<T> b = {0.5}, gy = {1, 0, 0, 2};
    std::vector<T> y(4, kSentinelA), gx(9, kSentinelA), gw(4, kSentinelA), gb(1, kSentinelA);
    kernels.forward(g, x.data(), w.data(), b.data(), y.data());
    kernels.backward_data(g, gy.data(), w.data(), gx.data());
    kernels.backward_weight(g, x.data(), gy.data(), gw.data(), gb.data());
    EXPECT_EQ(y, (std::vector<T>{12.5, 16.5, 24.5, 28.5}));
    EXPECT_EQ(gx, (std::vector<T>{1, 1, 0, 1, 3, 2, 0, 2, 2}));
    EXPECT_EQ(gw, (std::vector<T>{11, 14, 20, 23}));
    EXPECT_EQ(gb, (std::vector<T>{3}));
  }
  {
    // Stride 2, padding 1: P = (3 + 2 - 2) / 2 + 1 = 2; windows cover rows/cols {-1,0} and {1,2},
    // so each input cell lies in exactly one window and row/col -1 is zero padding.
    //   y = [x00, x01+x02; x10+x20, x11+x12+x21+x22] = [1, 5; 11, 28]
    // With gy = [1 2; 3 4] each cell gets its one window's gy:
    //   gx = [1 2 2; 3 4 4; 3 4 4]
    //   gw[r][s] = sum over p,q of gy[p][q] * x[2p-1+r][2q-1+s] (zero outside the image):
    //     gw[0][0] = 4*x11 = 20;           gw[0][1] = 3*x10 + 4*x12 = 12 + 24 = 36
    //     gw[1][0] = 2*x01 + 4*x21 = 4+32; gw[1][1] = 1*x00 + 2*x02 + 3*x20 + 4*x22 = 1+6+21+36
    //   gb = 1 + 2 + 3 + 4 = 10
    // Cross-check: <y,gy> = 1+10+33+112 = 156 = <x,gx> = <w,gw> = 20+36+36+64.
    const Conv2dGeometry g{1, 1, 3, 3, 1, 2, 2, 2, 2, 1, 1};
    const std::vector<T> gy = {1, 2, 3, 4};
    std::vector<T> y(4, kSentinelA), gx(9, kSentinelA), gw(4, kSentinelA), gb(1, kSentinelA);
    kernels.forward(g, x.data(), w.data(), nullptr, y.data());
    kernels.backward_data(g, gy.data(), w.data(), gx.data());
    kernels.backward_weight(g, x.data(), gy.data(), gw.data(), gb.data());
    EXPECT_EQ(y, (std::vector<T>{1, 5, 11, 28}));
    EXPECT_EQ(gx, (std::vector<T>{1, 2, 2, 3, 4, 4, 3, 4, 4}));
    EXPECT_EQ(gw, (std::vector<T>{20, 36, 36, 64}));
    EXPECT_EQ(gb, (std::vector<T>{10}));
  }
}

TEST(Conv2dHandComputed, ReferenceFloat) {
  check_hand_cases<float>({conv2d_forward_reference<float>, conv2d_backward_data_reference<float>,
                           conv2d_backward_weight_reference<float>});
}

TEST(Conv2dHandComputed, ReferenceDouble) {
  check_hand_cases<double>({conv2d_forward_reference<double>,
                            conv2d_backward_data_reference<double>,
                            conv2d_backward_weight_reference<double>});
}

TEST(Conv2dHandComputed, Onednn) {
  check_hand_cases<float>({[](const Conv2dGeometry& g, const float* x, const float* w,
                              const float* b, float* y) { conv2d_forward_onednn(g, x, w, b, y); },
                           [](const Conv2dGeometry& g, const float* gy, const float* w, float* gx) {
                             conv2d_backward_data_onednn(g, gy, w, gx);
                           },
                           [](const Conv2dGeometry& g, const float* x, const float* gy, float* gw,
                              float* gb) { conv2d_backward_weight_onednn(g, x, gy, gw, gb); }});
}

// ---------------------------------------------------------------------------------------------
// Geometries shared by the randomized tests.

struct ConvCase {
  const char* name;
  Conv2dGeometry g;  // {n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w}
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }  // names in failure messages

const ConvCase kCases[] = {
    {"Vgg3x3Pad1Batch3", {3, 16, 10, 10, 8, 3, 3, 1, 1, 1, 1}},
    {"Vgg3x3Pad1Deep", {1, 64, 6, 6, 16, 3, 3, 1, 1, 1, 1}},
    {"Pointwise1x1OddSize", {1, 8, 7, 5, 12, 1, 1, 1, 1, 0, 0}},
    {"Window5x5Stride2Pad2Odd", {3, 3, 11, 9, 4, 5, 5, 2, 2, 2, 2}},
    {"Window3x2Stride2x1Pad1x0", {1, 5, 8, 7, 6, 3, 2, 2, 1, 1, 0}},
    // P = (12 - 3) / 2 + 1 = 5 reads rows 0..10, so row 11 (and column 9) feed no output:
    // their gx must still be written, as zero.
    {"Stride2SkipsLastRowAndColumn", {3, 4, 12, 10, 5, 3, 3, 2, 2, 0, 0}},
};

// Rounding tolerance for float results of sums of L products computed in different orders: the
// reference adds sequentially, oneDNN in vectorised blocks. Each addition errs by at most eps
// times the partial sum, and those errors add up like a random walk, so two orders differ by
// about eps * sqrt(L) * (size of the partial sums). Partial sums are of the order of the output's
// RMS even where the final value cancels to almost nothing, hence |ref| + rms(ref) rather than
// |ref| alone. kSlack stands in for the constant the random-walk estimate leaves out; the worst
// ratio observed over these cases was about 0.6, so 8 keeps a wide margin while a wrong tap or a
// missing term (errors of order 1 / sqrt(L) relative) still fails by orders of magnitude.
constexpr double kSlack = 8.0;

void expect_close(const std::vector<float>& ref, const std::vector<float>& got, std::int64_t L,
                  const char* what) {
  ASSERT_EQ(ref.size(), got.size()) << what;
  double sq = 0;
  for (float v : ref) sq += double(v) * v;
  const double rms = std::sqrt(sq / double(ref.size()));
  const double eps = std::numeric_limits<float>::epsilon();
  int failures = 0;
  for (std::size_t i = 0; i < ref.size() && failures < 5; ++i) {
    const double tol = kSlack * eps * std::sqrt(double(L)) * (std::abs(ref[i]) + rms);
    if (std::abs(double(ref[i]) - got[i]) > tol) {
      ADD_FAILURE() << what << "[" << i << "]: reference " << ref[i] << ", oneDNN " << got[i]
                    << ", tolerance " << tol << " (L = " << L << ")";
      ++failures;
    }
  }
}

class Conv2dReferenceVsOnednn : public ::testing::TestWithParam<std::tuple<ConvCase, bool>> {
 protected:
  const Conv2dGeometry& g() const { return std::get<0>(GetParam()).g; }
  bool with_bias() const { return std::get<1>(GetParam()); }
};

// Each test runs twice with fresh inputs: the second call finds its primitive in the cache and
// must still read and write the new buffers.
TEST_P(Conv2dReferenceVsOnednn, Forward) {
  for (std::uint64_t seed : {11, 12}) {
    const auto x = random_floats(x_size(g()), seed), w = random_floats(w_size(g()), seed + 100);
    const auto b = random_floats(g().k, seed + 200);
    const float* bias = with_bias() ? b.data() : nullptr;
    std::vector<float> y_ref(y_size(g()), kSentinelA), y_dnn(y_size(g()), kSentinelB);
    conv2d_forward_reference(g(), x.data(), w.data(), bias, y_ref.data());
    conv2d_forward_onednn(g(), x.data(), w.data(), bias, y_dnn.data());
    expect_close(y_ref, y_dnn, g().c * g().r * g().s, "y");
  }
}

// Versions as Tensor::version hands them out: never one twice (these sit far above the process's
// own counter), since the cache is keyed by address and a freed vector's address comes back.
std::uint64_t fresh_version() {
  static std::uint64_t last = std::uint64_t{1} << 62;
  return ++last;
}

// Reused reordered weights: the same weight version hits the cache and gives the same result; a
// new version with new values is reordered again (a stale copy would give the old result).
TEST_P(Conv2dReferenceVsOnednn, ForwardAndBackwardDataReuseWeightsOnlyWhileTheVersionHolds) {
  const auto x = random_floats(x_size(g()), 14);
  auto w = random_floats(w_size(g()), 114);
  const auto gy = random_floats(y_size(g()), 314);
  std::uint64_t version = fresh_version();
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      for (float& v : w) v = -2 * v + 0.25f;  // the optimiser's step, as the kernel sees it
      version = fresh_version();
    }
    std::vector<float> y_ref(y_size(g()), kSentinelA), gx_ref(x_size(g()), kSentinelA);
    conv2d_forward_reference(g(), x.data(), w.data(), static_cast<const float*>(nullptr),
                             y_ref.data());
    conv2d_backward_data_reference(g(), gy.data(), w.data(), gx_ref.data());
    for (int call = 0; call < 2; ++call) {
      const OnednnCopyCacheStats before = onednn_copy_cache_stats();
      std::vector<float> y(y_size(g()), kSentinelB), gx(x_size(g()), kSentinelB);
      conv2d_forward_onednn(g(), x.data(), w.data(), nullptr, y.data(), {0, version, 0});
      conv2d_backward_data_onednn(g(), gy.data(), w.data(), gx.data(), {0, version, 0});
      expect_close(y_ref, y, g().c * g().r * g().s, "y");
      expect_close(gx_ref, gx, g().k * g().r * g().s, "gx");
      const OnednnCopyCacheStats after = onednn_copy_cache_stats();
      if (call == 1) {  // the second call with an unchanged version reorders nothing
        EXPECT_EQ(after.misses, before.misses);
      }
    }
  }
}

// A training step's reuse: the forward's blocked x serves backward-weight, backward-data's
// blocked gy serves backward-weight. Then x and gy change (the next step, same buffers): the new
// values must be used.
TEST_P(Conv2dReferenceVsOnednn, BackwardWeightReusesTheStepsBlockedInputsOnlyWhileTheyHold) {
  auto x = random_floats(x_size(g()), 15), gy = random_floats(y_size(g()), 315);
  const auto w = random_floats(w_size(g()), 115);
  for (int step = 0; step < 2; ++step) {
    if (step == 1) {
      for (float& v : x) v = 0.5f - v;
      for (float& v : gy) v = 3 * v;
    }
    const kernels::cpu::ConvVersions versions{fresh_version(), fresh_version(), fresh_version()};
    std::vector<float> gw_ref(w_size(g()), kSentinelA), gb_ref(g().k, kSentinelA);
    conv2d_backward_weight_reference(g(), x.data(), gy.data(), gw_ref.data(), gb_ref.data());
    std::vector<float> y(y_size(g()), kSentinelB), gx(x_size(g()), kSentinelB);
    std::vector<float> gw(w_size(g()), kSentinelB), gb(g().k, kSentinelB);
    conv2d_forward_onednn(g(), x.data(), w.data(), nullptr, y.data(), versions);
    conv2d_backward_data_onednn(g(), gy.data(), w.data(), gx.data(), versions);
    const OnednnCopyCacheStats before = onednn_copy_cache_stats();
    conv2d_backward_weight_onednn(g(), x.data(), gy.data(), gw.data(),
                                  with_bias() ? gb.data() : nullptr, versions);
    // oneDNN picks each direction's layouts itself: for VGG's 3x3 pad-1 layers the three agree
    // (so the copies are reused; the point of the cache), for odd shapes they may not.
    if (std::string(std::get<0>(GetParam()).name).rfind("Vgg", 0) == 0) {
      EXPECT_EQ(onednn_copy_cache_stats().misses, before.misses) << "step " << step;
    }
    const std::int64_t L = g().n * g().p() * g().q();
    expect_close(gw_ref, gw, L, "gw");
    if (with_bias()) expect_close(gb_ref, gb, L, "gb");
  }
}

TEST_P(Conv2dReferenceVsOnednn, BackwardData) {
  for (std::uint64_t seed : {21, 22}) {
    const auto gy = random_floats(y_size(g()), seed), w = random_floats(w_size(g()), seed + 100);
    std::vector<float> gx_ref(x_size(g()), kSentinelA), gx_dnn(x_size(g()), kSentinelB);
    conv2d_backward_data_reference(g(), gy.data(), w.data(), gx_ref.data());
    conv2d_backward_data_onednn(g(), gy.data(), w.data(), gx_dnn.data());
    expect_close(gx_ref, gx_dnn, g().k * g().r * g().s, "gx");
  }
}

TEST_P(Conv2dReferenceVsOnednn, BackwardWeight) {
  for (std::uint64_t seed : {31, 32}) {
    const auto x = random_floats(x_size(g()), seed), gy = random_floats(y_size(g()), seed + 100);
    std::vector<float> gw_ref(w_size(g()), kSentinelA), gw_dnn(w_size(g()), kSentinelB);
    std::vector<float> gb_ref(g().k, kSentinelA), gb_dnn(g().k, kSentinelB);
    conv2d_backward_weight_reference(g(), x.data(), gy.data(), gw_ref.data(),
                                     with_bias() ? gb_ref.data() : nullptr);
    conv2d_backward_weight_onednn(g(), x.data(), gy.data(), gw_dnn.data(),
                                  with_bias() ? gb_dnn.data() : nullptr);
    const std::int64_t L = g().n * g().p() * g().q();
    expect_close(gw_ref, gw_dnn, L, "gw");
    if (with_bias()) {
      expect_close(gb_ref, gb_dnn, L, "gb");
    } else {  // no bias gradient asked for: the buffer must be left alone
      EXPECT_EQ(gb_dnn, std::vector<float>(g().k, kSentinelB));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dReferenceVsOnednn,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<ConvCase, bool>>& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) ? "Bias" : "NoBias");
                         });

// ---------------------------------------------------------------------------------------------
// Adjoint identities of the double reference. The forward is bilinear in (x, w), and the two
// backward kernels are its transposes, so for any x, w, gy:
//   <conv(x, w), gy> = <x, backward_data(gy, w)> = <w, backward_weight(x, gy)>
// and, with x = 0 so that conv(0, w, b) broadcasts b: <conv(0, w, b), gy> = <b, gb>.
// A wrong tap index or a missed padding check in one kernel but not the others breaks them.

class Conv2dAdjoint : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dAdjoint, BackwardKernelsAreTransposesOfForward) {
  const Conv2dGeometry& g = GetParam().g;
  const auto x = random_doubles(x_size(g), 41), w = random_doubles(w_size(g), 42);
  const auto b = random_doubles(g.k, 43), gy = random_doubles(y_size(g), 44);
  std::vector<double> y(y_size(g), kSentinelA), gx(x_size(g), kSentinelA);
  std::vector<double> gw(w_size(g), kSentinelA), gb(g.k, kSentinelA);
  conv2d_forward_reference(g, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  conv2d_backward_data_reference(g, gy.data(), w.data(), gx.data());
  conv2d_backward_weight_reference(g, x.data(), gy.data(), gw.data(), gb.data());

  const double y_gy = dot(y, gy);
  // Each side sums ~1e4 products of values in [-1, 1] in double; 1e-10 relative is ample.
  const double tol = 1e-10 * std::max(1.0, std::abs(y_gy));
  EXPECT_NEAR(dot(x, gx), y_gy, tol);
  EXPECT_NEAR(dot(w, gw), y_gy, tol);

  const std::vector<double> zeros(x_size(g), 0.0);
  std::vector<double> y_bias(y_size(g), kSentinelA);
  conv2d_forward_reference(g, zeros.data(), w.data(), b.data(), y_bias.data());
  const double yb_gy = dot(y_bias, gy);
  EXPECT_NEAR(dot(b, gb), yb_gy, 1e-10 * std::max(1.0, std::abs(yb_gy)));
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dAdjoint, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// Winograd (CpuConvAlgorithm). F(4x4, 3x3) transforms each 6x6 input tile and 3x3 filter,
// multiplies in the transformed domain and transforms back; the transforms' constants scale the
// rounding error of every product, so the error is that of a direct sum times a constant, measured
// here against the exact (double reference) result rather than against float's own rounding.
//
// The worst |winograd - exact| / (eps * sqrt(L) * (|exact| + rms(exact))) over these cases was
// 2.0 (y), 1.7 (gx), 2.8 (gw) and 0.4 (gb) on the AVX-512 dev machine (the test records each as a
// property); 16 keeps a wide margin, while a wrong tile or a dropped transform term errs by order
// 1 relative (about 10^5 times the bound) and still fails.
constexpr double kWinogradSlack = 16.0;

template <typename Ref>
void expect_close_to_exact(const std::vector<double>& exact, const std::vector<float>& got,
                           std::int64_t L, const char* what, Ref&& name) {
  ASSERT_EQ(exact.size(), got.size()) << what;
  double sq = 0;
  for (double v : exact) sq += v * v;
  const double rms = std::sqrt(sq / double(exact.size()));
  const double eps = std::numeric_limits<float>::epsilon();
  double worst = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    const double scale = eps * std::sqrt(double(L)) * (std::abs(exact[i]) + rms);
    worst = std::max(worst, std::abs(exact[i] - got[i]) / scale);
  }
  EXPECT_LE(worst, kWinogradSlack) << name << " " << what << ": worst error / bound";
  ::testing::Test::RecordProperty(std::string(what) + "_worst_ratio", std::to_string(worst));
}

std::vector<float> to_floats(const std::vector<double>& v) { return {v.begin(), v.end()}; }

class Conv2dWinograd : public ::testing::TestWithParam<ConvCase> {
 protected:
  void SetUp() override {
    saved_ = cpu_conv_algorithm();
    set_cpu_conv_algorithm(CpuConvAlgorithm::Winograd);
    const std::string impl = onednn_conv_implementation(GetParam().g, "forward");
    if (impl.find("wino") == std::string::npos)
      GTEST_SKIP()
          << "oneDNN has no Winograd kernel for this layer on this CPU (it needs AVX-512); "
          << "it runs " << impl;
  }
  void TearDown() override { set_cpu_conv_algorithm(saved_); }
  CpuConvAlgorithm saved_ = CpuConvAlgorithm::Auto;
};

TEST_P(Conv2dWinograd, AllThreeDirectionsMatchTheExactResult) {
  const Conv2dGeometry& g = GetParam().g;
  for (const char* direction : {"forward", "backward_data", "backward_weight"})
    EXPECT_NE(onednn_conv_implementation(g, direction).find("wino"), std::string::npos)
        << direction << " runs " << onednn_conv_implementation(g, direction);
  const auto x = random_doubles(x_size(g), 71), w = random_doubles(w_size(g), 72);
  const auto b = random_doubles(g.k, 73), gy = random_doubles(y_size(g), 74);
  std::vector<double> y(y_size(g)), gx(x_size(g)), gw(w_size(g)), gb(g.k);
  conv2d_forward_reference(g, x.data(), w.data(), b.data(), y.data());
  conv2d_backward_data_reference(g, gy.data(), w.data(), gx.data());
  conv2d_backward_weight_reference(g, x.data(), gy.data(), gw.data(), gb.data());
  const auto xf = to_floats(x), wf = to_floats(w), bf = to_floats(b), gyf = to_floats(gy);
  std::vector<float> yf(y_size(g), kSentinelB), gxf(x_size(g), kSentinelB);
  std::vector<float> gwf(w_size(g), kSentinelB), gbf(g.k, kSentinelB);
  conv2d_forward_onednn(g, xf.data(), wf.data(), bf.data(), yf.data());
  conv2d_backward_data_onednn(g, gyf.data(), wf.data(), gxf.data());
  conv2d_backward_weight_onednn(g, xf.data(), gyf.data(), gwf.data(), gbf.data());
  const char* name = GetParam().name;
  expect_close_to_exact(y, yf, g.c * g.r * g.s, "y", name);
  expect_close_to_exact(gx, gxf, g.k * g.r * g.s, "gx", name);
  expect_close_to_exact(gw, gwf, g.n * g.p() * g.q(), "gw", name);
  expect_close_to_exact(gb, gbf, g.n * g.p() * g.q(), "gb", name);
}

// VGG's Winograd layers at small sizes: the shapes Auto gives Winograd, and an odd map (7x7: a
// partial 4x4 output tile) and a batch of one.
const ConvCase kWinogradCases[] = {
    {"Vgg64to64Map8", {2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1}},
    {"Vgg128to256Map4", {3, 128, 4, 4, 256, 3, 3, 1, 1, 1, 1}},
    {"Vgg64to128Map7Batch1", {1, 64, 7, 7, 128, 3, 3, 1, 1, 1, 1}},
};
INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dWinograd, ::testing::ValuesIn(kWinogradCases),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return std::string(info.param.name);
                         });

// Auto's rule, on VGG16's own layers at 32x32 (block, channels in, channels out, map side).
TEST(Conv2dAlgorithm, AutoGivesWinogradToVggsWideLayersWithMapsOfFourOrMore) {
  auto vgg = [](std::int64_t c, std::int64_t k, std::int64_t side) {
    return Conv2dGeometry{64, c, side, side, k, 3, 3, 1, 1, 1, 1};
  };
  EXPECT_FALSE(winograd_suits(vgg(3, 64, 32)));  // block 1's first layer: 3 channels
  EXPECT_TRUE(winograd_suits(vgg(64, 64, 32)));
  EXPECT_TRUE(winograd_suits(vgg(128, 256, 8)));
  EXPECT_TRUE(winograd_suits(vgg(512, 512, 4)));
  EXPECT_FALSE(winograd_suits(vgg(512, 512, 2)));                        // block 5: a 2x2 map
  EXPECT_FALSE(winograd_suits({64, 64, 32, 32, 64, 3, 3, 2, 2, 1, 1}));  // stride 2
  EXPECT_FALSE(winograd_suits({64, 64, 32, 32, 64, 5, 5, 1, 1, 2, 2}));  // 5x5
  EXPECT_TRUE(wants_winograd(vgg(3, 64, 32), CpuConvAlgorithm::Winograd));
  EXPECT_FALSE(wants_winograd(vgg(64, 64, 32), CpuConvAlgorithm::Direct));
  EXPECT_EQ(parse_cpu_conv_algorithm("winograd"), CpuConvAlgorithm::Winograd);
  EXPECT_EQ(std::string(to_string(parse_cpu_conv_algorithm("direct"))), "direct");
  EXPECT_THROW(parse_cpu_conv_algorithm("fft"), Error);
}

// A layer oneDNN has no Winograd kernel for (5x5) runs direct even when Winograd is forced.
TEST(Conv2dAlgorithm, ForcedWinogradFallsBackToDirectWhereOneDnnHasNone) {
  const CpuConvAlgorithm saved = cpu_conv_algorithm();
  set_cpu_conv_algorithm(CpuConvAlgorithm::Winograd);
  const Conv2dGeometry g{1, 3, 11, 9, 4, 5, 5, 2, 2, 2, 2};
  const std::string impl = onednn_conv_implementation(g, "forward");
  EXPECT_EQ(impl.find("wino"), std::string::npos) << impl;
  const auto x = random_floats(x_size(g), 81), w = random_floats(w_size(g), 82);
  std::vector<float> y_ref(y_size(g), kSentinelA), y_dnn(y_size(g), kSentinelB);
  conv2d_forward_reference(g, x.data(), w.data(), static_cast<const float*>(nullptr), y_ref.data());
  conv2d_forward_onednn(g, x.data(), w.data(), nullptr, y_dnn.data());
  set_cpu_conv_algorithm(saved);
  expect_close(y_ref, y_dnn, g.c * g.r * g.s, "y");
}

// ---------------------------------------------------------------------------------------------
// The primitive cache is shared by every thread; callers of different geometries at once must
// each get their own results.
TEST(Conv2dOnednn, ConcurrentCallersGetTheirOwnResults) {
  auto run = [](const Conv2dGeometry& g, std::uint64_t seed, bool* ok) {
    const auto x = random_floats(x_size(g), seed), w = random_floats(w_size(g), seed + 1);
    std::vector<float> y_ref(y_size(g), kSentinelA), y_dnn(y_size(g), kSentinelB);
    conv2d_forward_reference<float>(g, x.data(), w.data(), nullptr, y_ref.data());
    *ok = true;
    for (int i = 0; i < 10; ++i) {
      conv2d_forward_onednn(g, x.data(), w.data(), nullptr, y_dnn.data());
      for (std::size_t j = 0; j < y_ref.size(); ++j)
        if (std::abs(y_ref[j] - y_dnn[j]) > 1e-4f * (1.f + std::abs(y_ref[j]))) *ok = false;
    }
  };
  bool ok_a = false, ok_b = false;
  std::thread a(run, Conv2dGeometry{2, 6, 9, 9, 7, 3, 3, 1, 1, 1, 1}, 51, &ok_a);
  std::thread b(run, Conv2dGeometry{1, 4, 13, 8, 3, 5, 5, 2, 2, 2, 2}, 52, &ok_b);
  a.join();
  b.join();
  EXPECT_TRUE(ok_a);
  EXPECT_TRUE(ok_b);
}

}  // namespace
}  // namespace kiln::kernels::cpu
