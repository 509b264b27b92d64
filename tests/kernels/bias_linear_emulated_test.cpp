// The bias kernels, NCHW (kernels/cuda/bias_kernels.cuh) and Dense (linear_kernels.cuh), the very
// source nvcc builds, run on the CPU through the CUDA emulation and launched by the library's own
// queue_* functions, against their CPU twins: the bodies of tests/cuda/bias_parity_test.cpp and of
// the bias parts of tests/cuda/conv_linear_test.cpp, at sizes the emulation runs in moments. CPU
// outputs start as kSentinelA, emulated ones as kSentinelB.
//
// Tolerances, as on the GPU: an add is one float add per element on both devices: bitwise. The
// NCHW gradient sums in float (a fixed per-thread stride, then a fixed tree) and the CPU in
// double; float rounding error scales with the magnitudes summed, so the bound is absolute:
// 2e-7 * M for M = N*HW terms uniform in [-1, 1), about 3.4 float epsilons of sum |gy|. The Dense
// gradient keeps conv_linear_test's FP32 bound, 1e-4 * (1 + sqrt(M)). A missed or double-counted
// element errs by up to 1.
//
// Shapes cover both add paths (float4 when HW % 4 == 0 and y is 16-byte aligned, scalar
// otherwise, and the 64-bit index instantiation the launcher picks for tensors past 2^32), grids
// capped so that the grid-stride loops wrap, both gradient block sizes (256 and 1024 threads,
// switching at N*HW = 2^15) with HW smaller and larger than a block, and the Dense gradient's
// 2-D block with partial column tiles and fewer rows than row lanes.

// clang-format off
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/bias.h"
#include "kernels/cuda/bias_kernels.cuh"
#include "kernels/cuda/linear_kernels.cuh"
#include "kernels/linear.h"
#include "tests/cuda/parity.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

namespace emulated = cuda::emulated;
using test::EmulatedLaunch;
using test::kSentinelA;
using test::kSentinelB;

struct Shape {
  std::int64_t n, k, hw;
  std::int64_t max_blocks = emulated::kMaxBlocks;
};

// ---------------------------------------------------------------------------------------------
// NCHW bias add

const std::vector<Shape> kAddShapes = {
    {1, 1, 1},       {2, 3, 17}, {3, 5, 49}, {4, 7, 64},  // float4
    {64, 40, 1},                                          // one value per channel
    {2, 3, 2053, 2},  // scalar, two blocks for 12318 values: wraps 12 times
    {3, 4, 1024, 2},  // float4, two blocks for 3072 vectors: wraps 6 times
};

void check_bias_add(const Shape& s, std::uint64_t seed, bool force_int64) {
  SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw << " cap "
                                  << s.max_blocks << (force_int64 ? ", int64 indices" : ""));
  const auto b = test::random_floats(s.k, seed);
  const auto y0 = test::random_floats(s.n * s.k * s.hw, seed + 1);
  std::vector<float> y = y0, got = y0;
  cpu::bias_add_nchw_reference<float>(s.n, s.k, s.hw, b.data(), y.data());
  const EmulatedLaunch launch(s.max_blocks);
  if (force_int64) {
    emulated::queue_bias_add_indexed<std::int64_t>(launch, s.n * s.k * s.hw, s.k, s.hw, b.data(),
                                                   got.data());
  } else {
    emulated::queue_bias_add(launch, s.n, s.k, s.hw, b.data(), got.data());
  }
  test::expect_bitwise_equal(y, got, "bias_add_nchw");
  // std::vector's storage is 16-byte aligned, so the float4 path runs exactly when HW % 4 == 0.
  const bool vec4 = s.hw % 4 == 0;
  ASSERT_EQ(launch.launches(), 1u);
  if (force_int64) {
    EXPECT_TRUE(vec4 ? launch.launched(emulated::bias_add_nchw_vec4_kernel<std::int64_t>)
                     : launch.launched(emulated::bias_add_nchw_kernel<std::int64_t>));
  } else {
    EXPECT_TRUE(vec4 ? launch.launched(emulated::bias_add_nchw_vec4_kernel<std::uint32_t>)
                     : launch.launched(emulated::bias_add_nchw_kernel<std::uint32_t>));
  }
}

TEST(BiasEmulated, AddIsBitwiseEqual) {
  std::uint64_t seed = 900;
  for (const Shape& s : kAddShapes) check_bias_add(s, seed += 2, /*force_int64=*/false);
}

// The kernels' 64-bit instantiations, which the launcher picks only past 2^32 - 2^20 elements.
TEST(BiasEmulated, AddWithInt64IndicesIsBitwiseEqual) {
  std::uint64_t seed = 950;
  for (const Shape& s : kAddShapes) check_bias_add(s, seed += 2, /*force_int64=*/true);
}

// y one float past a 16-byte boundary: the scalar path even though HW % 4 == 0.
TEST(BiasEmulated, AddOnMisalignedOutput) {
  const std::int64_t n = 3, k = 6, hw = 64, count = n * k * hw;
  const auto b = test::random_floats(k, 1);
  const auto y0 = test::random_floats(count + 1, 2);
  std::vector<float> y = y0, got = y0;
  cpu::bias_add_nchw_reference<float>(n, k, hw, b.data(), y.data() + 1);
  const EmulatedLaunch launch;
  emulated::queue_bias_add(launch, n, k, hw, b.data(), got.data() + 1);
  test::expect_bitwise_equal(y, got, "bias_add_nchw (misaligned)");
  EXPECT_TRUE(launch.launched(emulated::bias_add_nchw_kernel<std::uint32_t>));
  EXPECT_FALSE(launch.launched(emulated::bias_add_nchw_vec4_kernel<std::uint32_t>));
}

// ---------------------------------------------------------------------------------------------
// NCHW bias gradient

TEST(BiasEmulated, GradMatchesReferenceAndRepeats) {
  const std::vector<Shape> shapes = {
      {1, 1, 1},     {2, 3, 17}, {3, 5, 49},  // short channels: 256 threads, HW < a block
      {2, 2, 1000},                           // HW > a block: threads never change image
      {64, 4, 1},                             // HW = 1: a thread strides over images only
      {2, 3, 16384},                          // N*HW = 2^15: 1024 threads
      {4096, 2, 9},                           // 1024 threads, many images per step
  };
  std::uint64_t seed = 1000;
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw);
    const auto gy = test::random_floats(s.n * s.k * s.hw, ++seed);
    std::vector<float> gb(s.k, kSentinelA);
    cpu::bias_grad_nchw_reference<float>(s.n, s.k, s.hw, gy.data(), gb.data());
    std::vector<float> got(s.k, kSentinelB), again(s.k, kSentinelB);
    const EmulatedLaunch launch;
    emulated::queue_bias_grad(launch, s.n, s.k, s.hw, gy.data(), got.data());
    emulated::queue_bias_grad(launch, s.n, s.k, s.hw, gy.data(), again.data());
    test::expect_close(gb, got, 0, 2e-7 * static_cast<double>(s.n * s.hw), "bias_grad_nchw");
    test::expect_bitwise_equal(got, again, "bias_grad_nchw, run twice");
    const bool long_channel = s.n * s.hw >= (1 << 15);
    const auto shapes_run = long_channel ? launch.shapes_of(emulated::bias_grad_nchw_kernel<1024>)
                                         : launch.shapes_of(emulated::bias_grad_nchw_kernel<256>);
    ASSERT_EQ(shapes_run.size(), 2u);
    EXPECT_EQ(shapes_run[0].grid.x, s.k);
    EXPECT_EQ(shapes_run[0].block.x, long_channel ? 1024u : 256u);
  }
}

// ---------------------------------------------------------------------------------------------
// Dense bias add and gradient (linear.cu)

struct DenseShape {
  std::int64_t m, n, max_blocks;
};

TEST(LinearEmulated, AddBiasIsBitwiseEqual) {
  for (const DenseShape s : {DenseShape{64, 10, emulated::kMaxBlocks},
                             DenseShape{17, 300, emulated::kMaxBlocks}, DenseShape{4099, 3, 2}}) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << ", grid cap " << s.max_blocks);
    const auto b = test::random_floats(s.n, 11);
    const auto y0 = test::random_floats(s.m * s.n, 12);
    // What linear_forward adds after the GEMM: one float add per element, as the CPU's bias term.
    std::vector<float> want(y0.size(), kSentinelA), got = y0;
    for (std::int64_t i = 0; i < s.m * s.n; ++i) want[i] = y0[i] + b[i % s.n];
    const EmulatedLaunch launch(s.max_blocks);
    emulated::queue_linear_add_bias(launch, got.data(), b.data(), s.m, s.n);
    test::expect_bitwise_equal(want, got, "linear add_bias");
    const auto shapes = launch.shapes_of(emulated::add_bias_kernel);
    ASSERT_EQ(shapes.size(), 1u);
    EXPECT_EQ(shapes[0].grid.x, std::min((s.m * s.n + 255) / 256, s.max_blocks));
  }
}

TEST(LinearEmulated, BiasGradientMatchesTheReference) {
  // (M, N): CIFAR-10's head; a wide layer with a partial last tile; fewer rows than the 8 row
  // lanes; a tall batch, so each lane's serial loop runs long.
  for (const DenseShape s : {DenseShape{64, 10, 0}, DenseShape{17, 1000, 0}, DenseShape{3, 45, 0},
                             DenseShape{4099, 33, 0}}) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n);
    const auto gy = test::random_floats(s.m * s.n, 20 + s.n);
    const auto x = test::random_floats(s.m, 21);  // K = 1: the weight gradient comes along
    const std::vector<double> gyd(gy.begin(), gy.end()), xd(x.begin(), x.end());
    std::vector<double> gw(s.n, kSentinelA), want(s.n, kSentinelA);
    cpu::linear_backward_weight_reference<double>(s.m, 1, s.n, xd.data(), gyd.data(), gw.data(),
                                                  want.data());
    std::vector<float> got(s.n + 1, kSentinelB);  // one past N: never written
    const EmulatedLaunch launch;
    emulated::queue_linear_bias_gradient(launch, gy.data(), s.m, s.n, got.data());
    const double tolerance = 1e-4 * (1.0 + std::sqrt(static_cast<double>(s.m)));
    for (std::int64_t j = 0; j < s.n; ++j)
      ASSERT_NEAR(got[j], want[j], tolerance) << "column " << j;
    EXPECT_EQ(got[s.n], kSentinelB);
    const auto shapes = launch.shapes_of(emulated::bias_gradient_kernel);
    ASSERT_EQ(shapes.size(), 1u);
    EXPECT_EQ(shapes[0].grid.x, (s.n + 31) / 32);
    EXPECT_EQ(shapes[0].block.x * 100 + shapes[0].block.y, 3208u);  // 32 columns x 8 row lanes
  }
}

}  // namespace
}  // namespace kiln::kernels
