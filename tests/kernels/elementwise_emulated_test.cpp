// The elementwise, fill and sum kernels (kernels/cuda/elementwise_kernels.cuh, fill_kernels.cuh),
// the very source nvcc builds, run on the CPU through the CUDA emulation and launched by the
// library's own queue_* functions, against their CPU twins: the bodies of
// tests/cuda/kernels_parity_test.cpp, at sizes the emulation runs in moments. CPU outputs start as
// kSentinelA, emulated ones as kSentinelB, so an element a kernel never writes cannot match.
//
// Tolerances as on the GPU: add, mul, scale, relu and fill are one IEEE operation (or a select)
// per element, axpy a multiply and an add kept separately rounded (__fmul_rn/__fadd_rn): bitwise.
// The sum is a tree, not the CPU's sequential loop, and is held to double summation's bound.
//
// Sizes: most runs cap the grid at kSmallCap blocks (EmulatedLaunch's grid_cap), so that n = kN
// makes every grid-stride loop wrap twice and end inside a block; the same ops also run with the
// library's cap on a size below it, where the grid is blocks_for(n) exactly; and fill runs once
// on more elements than the real 4096-block grid holds.

// clang-format off
// First of all: the CUDA built-ins that the kernel headers are written in.
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cuda/elementwise_kernels.cuh"
#include "kernels/cuda/fill_kernels.cuh"
#include "kernels/elementwise.h"
#include "tests/cuda/parity.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

namespace emulated = cuda::emulated;
using test::EmulatedLaunch;
using test::kSentinelA;
using test::kSentinelB;

constexpr std::int64_t kSmallCap = 3;                                  // blocks of 256 threads
constexpr std::int64_t kN = 2 * kSmallCap * emulated::kThreads + 301;  // wraps twice, ragged
constexpr std::int64_t kUncapped = 5 * emulated::kThreads + 17;        // 6 blocks, the last partial

// The grid a capped or uncapped grid-stride launch of n items must have had.
void expect_grid_stride_shapes(const std::vector<test::EmulatedShape>& shapes, std::int64_t n,
                               std::int64_t cap, const char* what) {
  ASSERT_EQ(shapes.size(), 1u) << what;
  const std::int64_t blocks = std::min((n + 255) / 256, cap);
  EXPECT_EQ(shapes[0].grid.x, blocks) << what;
  EXPECT_EQ(shapes[0].block.x, 256u) << what;
  EXPECT_EQ(shapes[0].grid.y * shapes[0].grid.z * shapes[0].block.y * shapes[0].block.z, 1u)
      << what;
}

struct Cap {
  std::int64_t n, max_blocks;
};
const Cap kCaps[] = {{kN, kSmallCap}, {kUncapped, emulated::kMaxBlocks}};

TEST(ElementwiseEmulated, AddMulScaleAreBitwiseEqual) {
  for (const Cap c : kCaps) {
    SCOPED_TRACE(::testing::Message() << "n " << c.n << ", grid cap " << c.max_blocks);
    const std::int64_t n = c.n;
    const auto a = test::random_floats(n, 1), b = test::random_floats(n, 2);
    const EmulatedLaunch launch(c.max_blocks);
    {
      std::vector<float> y(n, kSentinelA), got(n, kSentinelB);
      cpu::add_reference(n, a.data(), b.data(), y.data());
      emulated::queue_add(launch, n, a.data(), b.data(), got.data());
      test::expect_bitwise_equal(y, got, "add");
      expect_grid_stride_shapes(launch.shapes_of(emulated::add_kernel), n, c.max_blocks, "add");
    }
    {
      std::vector<float> y(n, kSentinelA), got(n, kSentinelB);
      cpu::mul_reference(n, a.data(), b.data(), y.data());
      emulated::queue_mul(launch, n, a.data(), b.data(), got.data());
      test::expect_bitwise_equal(y, got, "mul");
      expect_grid_stride_shapes(launch.shapes_of(emulated::mul_kernel), n, c.max_blocks, "mul");
    }
    {
      std::vector<float> y(n, kSentinelA), got(n, kSentinelB);
      cpu::scale_reference(n, a.data(), -0.37f, y.data());
      emulated::queue_scale(launch, n, a.data(), -0.37f, got.data());
      test::expect_bitwise_equal(y, got, "scale");
      expect_grid_stride_shapes(launch.shapes_of(emulated::scale_kernel), n, c.max_blocks, "scale");
    }
  }
}

TEST(ElementwiseEmulated, InPlaceAddAndScale) {
  const std::int64_t n = kN;
  const auto a = test::random_floats(n, 3), b = test::random_floats(n, 4);
  std::vector<float> y = a, got = a;
  cpu::add_reference(n, y.data(), b.data(), y.data());  // y = a + b, in place
  cpu::scale_reference(n, y.data(), 3.f, y.data());     // y *= 3, in place
  const EmulatedLaunch launch(kSmallCap);
  emulated::queue_add(launch, n, got.data(), b.data(), got.data());
  emulated::queue_scale(launch, n, got.data(), 3.f, got.data());
  test::expect_bitwise_equal(y, got, "in-place add then scale");
}

TEST(ElementwiseEmulated, AxpyAccumulatesBitwiseEqual) {
  for (const Cap c : kCaps) {
    SCOPED_TRACE(::testing::Message() << "n " << c.n << ", grid cap " << c.max_blocks);
    const auto x = test::random_floats(c.n, 5);
    std::vector<float> y = test::random_floats(c.n, 6);  // axpy accumulates: y starts non-zero
    std::vector<float> got = y;
    cpu::axpy_reference(c.n, 0.731f, x.data(), y.data());
    const EmulatedLaunch launch(c.max_blocks);
    emulated::queue_axpy(launch, c.n, 0.731f, x.data(), got.data());
    test::expect_bitwise_equal(y, got, "axpy");
    expect_grid_stride_shapes(launch.shapes_of(emulated::axpy_kernel), c.n, c.max_blocks, "axpy");
  }
}

TEST(ElementwiseEmulated, ReluForwardAndBackwardBitwiseEqual) {
  for (const Cap c : kCaps) {
    SCOPED_TRACE(::testing::Message() << "n " << c.n << ", grid cap " << c.max_blocks);
    const std::int64_t n = c.n;
    auto x = test::random_floats(n, 9);
    // The traps: exact zeros (gradient 0), negative zero, and NaN (must propagate).
    for (std::int64_t i = 0; i < n; i += 97) x[i] = 0.f;
    for (std::int64_t i = 13; i < n; i += 101) x[i] = -0.f;
    x[5] = std::numeric_limits<float>::quiet_NaN();
    const auto gy = test::random_floats(n, 10);
    std::vector<float> y(n, kSentinelA), gx(n, kSentinelA);
    cpu::relu_forward_reference(n, x.data(), y.data());
    cpu::relu_backward_reference(n, y.data(), gy.data(), gx.data());
    std::vector<float> got_y(n, kSentinelB), got_gx(n, kSentinelB);
    const EmulatedLaunch launch(c.max_blocks);
    emulated::queue_relu_forward(launch, n, x.data(), got_y.data());
    emulated::queue_relu_backward(launch, n, got_y.data(), gy.data(), got_gx.data());
    test::expect_bitwise_equal(y, got_y, "relu forward");
    test::expect_bitwise_equal(gx, got_gx, "relu backward");
    expect_grid_stride_shapes(launch.shapes_of(emulated::relu_forward_kernel), n, c.max_blocks,
                              "relu forward");
    expect_grid_stride_shapes(launch.shapes_of(emulated::relu_backward_kernel), n, c.max_blocks,
                              "relu backward");
  }
}

// Past the real grid: 4096 blocks of 256 threads cover 2^20 elements, so the last 4099 are a
// second lap of the loop (fill is the cheapest kernel to run 4096 emulated blocks of).
TEST(ElementwiseEmulated, FillCoversMoreThanTheRealGrid) {
  const std::int64_t n = emulated::kMaxBlocks * emulated::kThreads + 4099;
  std::vector<float> got(n, kSentinelB);
  const EmulatedLaunch launch;
  emulated::queue_fill_float(launch, got.data(), n, -2.5f);
  test::expect_bitwise_equal(std::vector<float>(n, -2.5f), got, "fill_float");
  expect_grid_stride_shapes(launch.shapes_of(emulated::fill_float_kernel), n, emulated::kMaxBlocks,
                            "fill_float");
}

TEST(ElementwiseEmulated, FillWrapsACappedGridAndLeavesTheRest) {
  std::vector<float> got(kN + 1, kSentinelB);
  const EmulatedLaunch launch(kSmallCap);
  emulated::queue_fill_float(launch, got.data(), kN, 0.f);
  std::vector<float> want(kN + 1, 0.f);
  want[kN] = kSentinelB;  // one past n: never written
  test::expect_bitwise_equal(want, got, "fill_float");
  EXPECT_TRUE(launch.launched(emulated::fill_float_kernel));
}

// The sum's workspace starts as NaN (the device's is garbage), so a partial that pass 1 never
// writes, or one that pass 2 reads twice or skips, cannot pass.
double emulated_sum(const EmulatedLaunch& launch, std::int64_t n, const float* a) {
  std::vector<double> workspace(emulated::sum_workspace_doubles(launch, n),
                                std::numeric_limits<double>::quiet_NaN());
  const double* result = emulated::queue_sum(launch, n, a, workspace.data());
  EXPECT_EQ(result, workspace.data() + workspace.size() - 1) << "the result follows the partials";
  return *result;
}

// More than 1024 blocks in pass 1: pass 2's 1024 threads loop over the partials.
constexpr std::int64_t kManyPartials = 1100 * 256 + 7;

TEST(ElementwiseEmulated, SumMatchesWithinDoubleRounding) {
  struct Case {
    std::int64_t n, max_blocks;
  };
  for (const Case c : {Case{1, emulated::kMaxBlocks}, Case{255, emulated::kMaxBlocks},
                       Case{4097, emulated::kMaxBlocks}, Case{20011, emulated::kMaxBlocks},
                       Case{kN, kSmallCap}, Case{kManyPartials, emulated::kMaxBlocks}}) {
    SCOPED_TRACE(::testing::Message() << "n " << c.n << ", grid cap " << c.max_blocks);
    const auto a = test::random_floats(c.n, 7 + c.n, -1.f, 3.f);  // a non-zero mean
    const double expected = cpu::sum_reference(c.n, a.data());
    double magnitude = 0.0;
    for (float v : a) magnitude += std::abs(static_cast<double>(v));
    const EmulatedLaunch launch(c.max_blocks);
    const double got = emulated_sum(launch, c.n, a.data());
    // Each of the two summations (sequential; a tree of depth < n) errs by at most
    // (n - 1) * 2^-53 * sum|a| (the standard bound for recursive summation in double).
    EXPECT_NEAR(got, expected, 2.0 * c.n * 0x1.0p-53 * magnitude);
    const auto partials = launch.shapes_of(emulated::sum_partials_kernel);
    const auto final_pass = launch.shapes_of(emulated::sum_final_kernel);
    ASSERT_EQ(partials.size(), 1u);
    ASSERT_EQ(final_pass.size(), 1u);
    EXPECT_EQ(partials[0].grid.x, std::min((c.n + 255) / 256, c.max_blocks));
    EXPECT_EQ(final_pass[0].grid.x, 1u);
    EXPECT_EQ(final_pass[0].block.x, 1024u);
  }
}

// Sums of exactly representable values: every order gives the same double, so the tree must too.
TEST(ElementwiseEmulated, SumOfIntegersIsExact) {
  const std::int64_t n = kN;
  std::vector<float> a(n);
  double expected = 0;
  for (std::int64_t i = 0; i < n; ++i) expected += (a[i] = static_cast<float>(i % 7 - 3));
  EXPECT_EQ(emulated_sum(EmulatedLaunch(kSmallCap), n, a.data()), expected);
}

TEST(ElementwiseEmulated, SumIsDeterministic) {
  const auto a = test::random_floats(kN, 8);
  const EmulatedLaunch launch(kSmallCap);
  const double first = emulated_sum(launch, kN, a.data());
  for (int run = 0; run < 2; ++run) EXPECT_EQ(emulated_sum(launch, kN, a.data()), first);
}

}  // namespace
}  // namespace kiln::kernels
