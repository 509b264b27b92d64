// Deterministic mode on the GPU (kernels/cuda_runtime.h): backward-data and backward-filter, run
// again and again on the same inputs, give the same bits every time, on cuDNN (restricted to the
// algorithms it flags deterministic) and through Auto (which then takes its fixed rule instead of
// timing); and Auto in that mode times nothing and hands back exactly Kiln's engine's bits. Every
// test needs a device and skips, saying so, without one; the admission rules themselves are
// checked on the CPU in conv_algorithms_test.cpp.
//
// Why several runs: cuDNN's atomics-based algorithms (bwd-data ALGO_0, bwd-filter ALGO_0/ALGO_3)
// add partial sums in whatever order the hardware schedules them, so two runs usually, not always,
// differ in the last bits of some weights. Each repeat is a fresh chance to catch one that slipped
// through. The shapes are those where cuDNN's heuristics favour them: long reductions (many images
// and pixels per weight) and VGG's 512-channel layers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "tests/cuda/cuda_test.h"
#include "tests/cuda/device_vector.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;
using kernels::Conv2dGeometry;
using test::ConvEngineScope;
using test::DeterministicScope;
using test::DeviceVector;
using test::kSentinelA;
using test::kSentinelB;
using test::MathModeScope;
using test::random_floats;
using test::w_size;
using test::widen;
using test::x_size;
using test::y_size;

constexpr int kRuns = 4;

// Bit for bit, so -0 against +0 or two different NaNs count as different.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

// Index of the first element whose bits differ, for the failure message.
std::size_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    // Bits, not values: -0 against +0 or two NaNs of other payloads is a difference here.
    std::uint32_t bits_a = 0, bits_b = 0;
    std::memcpy(&bits_a, &a[i], sizeof(float));
    std::memcpy(&bits_b, &b[i], sizeof(float));
    if (bits_a != bits_b) return i;
  }
  return a.size();
}

// The deterministic algorithms must still compute the right thing: within conv_linear_test.cpp's
// tolerance, rel * (1 + sqrt(terms)) (FP32 1e-4, TF32 2e-3; that file explains both).
void expect_close(const std::vector<float>& gpu, const std::vector<double>& ref, double rel,
                  std::int64_t terms, const std::string& what) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  const double tol = rel * (1.0 + std::sqrt(static_cast<double>(terms)));
  std::int64_t bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(static_cast<double>(gpu[i]) - ref[i]);
    if (!(err <= tol) && bad++ < 3) {
      ADD_FAILURE() << what << ": element " << i << " is " << gpu[i] << ", reference " << ref[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": elements outside the tolerance " << tol;
}

struct Case {
  const char* name;
  Conv2dGeometry g;
};
std::ostream& operator<<(std::ostream& out, const Case& c) { return out << c.name; }

const Case kCases[] = {
    // 16 images of 32x32: every weight sums 16384 products, the long reduction atomics speed up.
    {"long_reduction", {16, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1}},
    // VGG block 5 at batch 32: 512 channels in and out on a 2x2 map.
    {"vgg_block5", {32, 512, 2, 2, 512, 3, 3, 1, 1, 1, 1}},
    // Strided backward-data scatters overlapping windows.
    {"stride2", {8, 24, 17, 17, 40, 3, 3, 2, 2, 1, 1}},
};

using Param = std::tuple<Case, cuda::MathMode, cuda::ConvEngine>;
class CudaConvDeterministic : public ::testing::TestWithParam<Param> {};

TEST_P(CudaConvDeterministic, BackwardDataAndFilterRepeatBitForBit) {
  KILN_REQUIRE_CUDA();
  const auto& [c, mode, engine] = GetParam();
  const Conv2dGeometry& g = c.g;
  const DeterministicScope deterministic(true);
  const MathModeScope mode_scope(mode);
  const ConvEngineScope engine_scope(engine);
  const std::vector<float> x_host = random_floats(x_size(g), 71),
                           w_host = random_floats(w_size(g), 72),
                           gy_host = random_floats(y_size(g), 73);
  const DeviceVector<float> x(x_host), w(w_host), gy(gy_host);

  std::vector<float> gx_first, gw_first, gb_first;
  for (int run = 0; run < kRuns; ++run) {
    // Alternate sentinels: an element no run writes cannot repeat across runs.
    const float sentinel = run % 2 == 0 ? kSentinelA : kSentinelB;
    DeviceVector<float> gx(x_size(g), sentinel), gw(w_size(g), sentinel), gb(g.k, sentinel);
    cuda::conv2d_backward_data(g, gy.get(), w.get(), gx.get());
    cuda::conv2d_backward_weight(g, x.get(), gy.get(), gw.get(), gb.get());
    const std::vector<float> gx_host = gx.download(), gw_host = gw.download(),
                             gb_host = gb.download();
    if (run == 0) {
      gx_first = gx_host;
      gw_first = gw_host;
      gb_first = gb_host;
      continue;
    }
    EXPECT_TRUE(same_bits(gx_host, gx_first))
        << "backward-data, run " << run << ": first difference at element "
        << first_difference(gx_host, gx_first);
    EXPECT_TRUE(same_bits(gw_host, gw_first))
        << "backward-filter, run " << run << ": first difference at element "
        << first_difference(gw_host, gw_first);
    EXPECT_TRUE(same_bits(gb_host, gb_first)) << "bias gradient, run " << run;
  }

  // And the repeated answer is the right one.
  std::vector<double> gx_ref(gx_first.size()), gw_ref(gw_first.size()), gb_ref(gb_first.size());
  const std::vector<double> xd = widen(x_host), wd = widen(w_host), gyd = widen(gy_host);
  kernels::cpu::conv2d_backward_data_reference<double>(g, gyd.data(), wd.data(), gx_ref.data());
  kernels::cpu::conv2d_backward_weight_reference<double>(g, xd.data(), gyd.data(), gw_ref.data(),
                                                         gb_ref.data());
  const double rel = mode == cuda::MathMode::TF32 ? 2e-3 : 1e-4;
  expect_close(gx_first, gx_ref, rel, g.k * g.r * g.s, "backward-data");
  expect_close(gw_first, gw_ref, rel, g.n * g.p() * g.q(), "backward-filter");
  expect_close(gb_first, gb_ref, 1e-4, g.n * g.p() * g.q(), "bias gradient");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaConvDeterministic,
    ::testing::Combine(::testing::ValuesIn(kCases),
                       ::testing::Values(cuda::MathMode::FP32, cuda::MathMode::TF32),
                       ::testing::Values(cuda::ConvEngine::CuDNN, cuda::ConvEngine::Auto)),
    [](const ::testing::TestParamInfo<Param>& info) {
      return std::string(std::get<0>(info.param).name) + "_" +
             test::name_of(std::get<1>(info.param)) + "_" +
             cuda::to_string(std::get<2>(info.param));
    });

// Auto in deterministic mode times nothing (no choice is recorded) and, for a shape Kiln's engine
// can run in FP32, hands back exactly what Kiln's engine computes, in all three directions.
TEST(CudaConvDeterministicAuto, TimesNothingAndRunsKilnsEngine) {
  KILN_REQUIRE_CUDA();
  const DeterministicScope deterministic(true);
  const MathModeScope mode_scope(cuda::MathMode::FP32);
  const ConvEngineScope engine_scope(cuda::ConvEngine::Auto);
  const Conv2dGeometry g{3, 21, 13, 9, 17, 3, 3, 1, 1, 1, 1};  // a shape no other test uses
  const DeviceVector<float> x(random_floats(x_size(g), 81)), w(random_floats(w_size(g), 82)),
      b(random_floats(g.k, 83)), gy(random_floats(y_size(g), 84));
  const auto recorded_for_shape = [&] {
    int count = 0;
    for (const cuda::ConvEngineChoice& choice : cuda::conv_engine_choices()) {
      count += choice.g.c == g.c && choice.g.k == g.k && choice.g.h == g.h && choice.g.w == g.w;
    }
    return count;
  };
  ASSERT_EQ(cuda::deterministic_auto_engine(g, cuda::MathMode::FP32, 7), cuda::ConvEngine::Kiln);

  DeviceVector<float> y_auto(y_size(g), kSentinelA), y_kiln(y_size(g), kSentinelB);
  DeviceVector<float> gx_auto(x_size(g), kSentinelA), gx_kiln(x_size(g), kSentinelB);
  DeviceVector<float> gw_auto(w_size(g), kSentinelA), gw_kiln(w_size(g), kSentinelB);
  DeviceVector<float> gb_auto(g.k, kSentinelA), gb_kiln(g.k, kSentinelB);
  cuda::conv2d_forward(g, x.get(), w.get(), b.get(), y_auto.get());
  cuda::conv2d_backward_data(g, gy.get(), w.get(), gx_auto.get());
  cuda::conv2d_backward_weight(g, x.get(), gy.get(), gw_auto.get(), gb_auto.get());
  cuda::conv2d_forward_kiln(g, x.get(), w.get(), b.get(), y_kiln.get());
  cuda::conv2d_backward_data_kiln(g, gy.get(), w.get(), gx_kiln.get());
  cuda::conv2d_backward_weight_kiln(g, x.get(), gy.get(), gw_kiln.get(), gb_kiln.get());
  EXPECT_EQ(recorded_for_shape(), 0);
  EXPECT_TRUE(same_bits(y_auto.download(), y_kiln.download()));
  EXPECT_TRUE(same_bits(gx_auto.download(), gx_kiln.download()));
  EXPECT_TRUE(same_bits(gw_auto.download(), gw_kiln.download()));
  EXPECT_TRUE(same_bits(gb_auto.download(), gb_kiln.download()));
}

}  // namespace
}  // namespace kiln
