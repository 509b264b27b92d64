// The batch-norm kernels (kernels/cuda/batch_norm_kernels.cuh), the very source nvcc builds, run
// on the CPU through the CUDA emulation and launched by the library's own queue_* functions,
// against the CPU reference (kernels/cpu/batch_norm.cpp): the body of
// tests/cuda/batch_norm_parity_test.cpp at sizes the emulation runs in moments. CPU outputs start
// as kSentinelA, emulated ones as kSentinelB.
//
// Tolerances: tests/cuda/batch_norm_parity.h, shared with the GPU parity test.
//
// Shapes cover a channel shorter than a block and longer, HW = 1 (a thread strides over images
// only), HW below and above a block, both block sizes of the sums (256 threads; 1024 from
// N*HW = 2^15), the elementwise kernels' float4 path (HW % 4 == 0, aligned) and scalar path
// (HW % 4 != 0, or a misaligned tensor), their 64-bit index instantiations, and grids capped so
// that the grid-stride loops wrap.

// clang-format off
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/cuda/batch_norm_kernels.cuh"
#include "tests/cuda/batch_norm_parity.h"
#include "tests/cuda/parity.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

namespace emulated = cuda::emulated;
using test::EmulatedLaunch;
using test::kSentinelA;
using test::kSentinelB;

using test::batch_norm::ChannelParams;
using test::batch_norm::expect_sums_close;
using test::batch_norm::kEps;
using test::batch_norm::kMomentum;
using test::batch_norm::random_params;

struct Shape {
  std::int64_t n, c, hw;
  std::int64_t max_blocks = emulated::kMaxBlocks;
  std::int64_t count() const { return n * c * hw; }
  std::int64_t m() const { return n * hw; }
};

testing::Message describe(const Shape& s) {
  return testing::Message() << "n=" << s.n << " c=" << s.c << " hw=" << s.hw << " grid cap "
                            << s.max_blocks;
}

// The per-channel sums' block size, by the channel's length.
unsigned sums_block(const Shape& s) { return s.m() >= (1 << 15) ? 1024u : 256u; }

// Channels of both block sizes: shorter than a block (2*17 = 34 values), HW < a block but the
// channel longer (threads change image mid-stride), HW > a block, HW = 1, a single value, and
// N*HW = 2^15 and beyond (1024 threads, many images per step when HW is small).
const std::vector<Shape> kChannelShapes = {
    {1, 1, 1}, {2, 3, 17}, {3, 2, 100}, {2, 2, 1000}, {64, 3, 1}, {2, 1, 16384}, {4096, 1, 9},
};

// ---------------------------------------------------------------------------------------------
// Statistics

void check_stats(const Shape& s, std::uint64_t seed, bool running, float offset) {
  SCOPED_TRACE(describe(s) << (running ? ", running statistics" : ", no running statistics")
                           << ", x offset " << offset);
  const auto x = test::random_floats(s.count(), seed, offset - 1.f, offset + 1.f);
  const auto running0 = test::random_floats(2 * s.c, seed + 1, 0.f, 2.f);
  std::vector<float> mean(s.c, kSentinelA), var(s.c, kSentinelA);
  std::vector<float> rmean(running0.begin(), running0.begin() + s.c);
  std::vector<float> rvar(running0.begin() + s.c, running0.end());
  std::vector<float> got_mean(s.c, kSentinelB), got_var(s.c, kSentinelB);
  std::vector<float> got_rmean = rmean, got_rvar = rvar;
  cpu::batch_norm_stats_reference<float>(s.n, s.c, s.hw, x.data(), mean.data(), var.data(),
                                         kMomentum, running ? rmean.data() : nullptr,
                                         running ? rvar.data() : nullptr);
  const EmulatedLaunch launch;
  emulated::queue_batch_norm_stats(launch, s.n, s.c, s.hw, x.data(), got_mean.data(),
                                   got_var.data(), kMomentum, running ? got_rmean.data() : nullptr,
                                   running ? got_rvar.data() : nullptr);
  expect_sums_close(mean, got_mean, s.m(), "batch_norm_stats mean");
  expect_sums_close(var, got_var, s.m(), "batch_norm_stats var");
  expect_sums_close(rmean, got_rmean, s.m(), "batch_norm_stats running mean");
  expect_sums_close(rvar, got_rvar, s.m(), "batch_norm_stats running var");
  if (running) {  // the update happened (the statistics differ from last step's)
    ASSERT_NE(test::float_bits(got_rmean[0]), test::float_bits(running0[0]));
  }
  ASSERT_EQ(launch.launches(), 1u);
  const auto shapes = sums_block(s) == 1024u
                          ? launch.shapes_of(emulated::batch_norm_stats_kernel<1024>)
                          : launch.shapes_of(emulated::batch_norm_stats_kernel<256>);
  ASSERT_EQ(shapes.size(), 1u);
  EXPECT_EQ(shapes[0].grid.x, s.c);
  EXPECT_EQ(shapes[0].block.x, sums_block(s));
}

TEST(BatchNormEmulated, StatsMatchTheReference) {
  std::uint64_t seed = 100;
  bool running = true;
  for (const Shape& s : kChannelShapes) {
    check_stats(s, seed += 2, running, 0.f);
    running = !running;  // alternate, so both kinds meet both block sizes
  }
}

// A mean large against the spread: the two-pass variance keeps its digits (a one-pass
// E[x^2] - E[x]^2 in float would lose them all).
TEST(BatchNormEmulated, StatsOfAnOffsetChannel) {
  check_stats({3, 2, 100}, 200, /*running=*/true, 1000.f);
  check_stats({2, 1, 16384}, 202, /*running=*/false, 1000.f);
}

TEST(BatchNormEmulated, StatsRepeatBitForBit) {
  const Shape s{3, 2, 100};
  const auto x = test::random_floats(s.count(), 300);
  std::vector<float> mean(s.c, kSentinelB), var(s.c, kSentinelB);
  std::vector<float> mean2(s.c, kSentinelA), var2(s.c, kSentinelA);
  const EmulatedLaunch launch;
  emulated::queue_batch_norm_stats(launch, s.n, s.c, s.hw, x.data(), mean.data(), var.data(),
                                   kMomentum, nullptr, nullptr);
  emulated::queue_batch_norm_stats(launch, s.n, s.c, s.hw, x.data(), mean2.data(), var2.data(),
                                   kMomentum, nullptr, nullptr);
  test::expect_bitwise_equal(mean, mean2, "batch_norm_stats mean, run twice");
  test::expect_bitwise_equal(var, var2, "batch_norm_stats var, run twice");
}

// ---------------------------------------------------------------------------------------------
// Forward

const std::vector<Shape> kElementwiseShapes = {
    {1, 1, 1},       {2, 3, 17}, {3, 5, 64},  // float4
    {64, 4, 1},                               // HW = 1
    {2, 3, 2053, 2},                          // scalar, two blocks for 12318 values: wraps 12 times
    {3, 4, 1024, 2},                          // float4, two blocks for 3072 vectors: wraps 6 times
};

// y one float past a 16-byte boundary when `misalign`: the scalar path even though HW % 4 == 0.
void check_forward(const Shape& s, std::uint64_t seed, bool force_int64, bool misalign) {
  SCOPED_TRACE(describe(s) << (force_int64 ? ", int64 indices" : "")
                           << (misalign ? ", misaligned y" : ""));
  const auto x = test::random_floats(s.count(), seed, -3.f, 3.f);
  const ChannelParams p = random_params(s.c, seed + 1);
  const std::size_t shift = misalign ? 1 : 0;
  std::vector<float> y(s.count(), kSentinelA), got(s.count() + shift, kSentinelB);
  cpu::batch_norm_forward_reference<float>(s.n, s.c, s.hw, kEps, x.data(), p.mean.data(),
                                           p.var.data(), p.gamma.data(), p.beta.data(), y.data());
  const EmulatedLaunch launch(s.max_blocks);
  float* out = got.data() + shift;
  if (force_int64) {
    emulated::queue_batch_norm_forward_indexed<std::int64_t>(launch, s.count(), s.c, s.hw, kEps,
                                                             x.data(), p.mean.data(), p.var.data(),
                                                             p.gamma.data(), p.beta.data(), out);
  } else {
    emulated::queue_batch_norm_forward(launch, s.n, s.c, s.hw, kEps, x.data(), p.mean.data(),
                                       p.var.data(), p.gamma.data(), p.beta.data(), out);
  }
  test::expect_bitwise_equal(y, std::vector<float>(got.begin() + shift, got.end()),
                             "batch_norm_forward");
  // std::vector's storage is 16-byte aligned, so the float4 path runs exactly when HW % 4 == 0
  // and y is not shifted.
  const bool vec4 = s.hw % 4 == 0 && !misalign;
  ASSERT_EQ(launch.launches(), 1u);
  const auto shapes =
      force_int64
          ? (vec4 ? launch.shapes_of(emulated::batch_norm_forward_vec4_kernel<std::int64_t>)
                  : launch.shapes_of(emulated::batch_norm_forward_kernel<std::int64_t>))
          : (vec4 ? launch.shapes_of(emulated::batch_norm_forward_vec4_kernel<std::uint32_t>)
                  : launch.shapes_of(emulated::batch_norm_forward_kernel<std::uint32_t>));
  ASSERT_EQ(shapes.size(), 1u);
  const std::int64_t items = vec4 ? s.count() / 4 : s.count();
  EXPECT_EQ(shapes[0].grid.x, std::min((items + 255) / 256, s.max_blocks));
}

TEST(BatchNormEmulated, ForwardIsBitwiseEqual) {
  std::uint64_t seed = 400;
  for (const Shape& s : kElementwiseShapes) check_forward(s, seed += 5, false, false);
}

// The 64-bit instantiations, which the launcher picks only past 2^32 - 2^20 elements.
TEST(BatchNormEmulated, ForwardWithInt64IndicesIsBitwiseEqual) {
  std::uint64_t seed = 450;
  for (const Shape& s : kElementwiseShapes) check_forward(s, seed += 5, true, false);
}

TEST(BatchNormEmulated, ForwardOnMisalignedOutput) { check_forward({3, 6, 64}, 500, false, true); }

// ---------------------------------------------------------------------------------------------
// Backward

struct BackwardCase {
  Shape shape;
  bool batch_stats;
  bool with_gx = true;
  bool misalign_gx = false;  // gx one float past a 16-byte boundary: the scalar path
  bool force_int64 = false;
};

void check_backward(const BackwardCase& bc, std::uint64_t seed) {
  const Shape& s = bc.shape;
  SCOPED_TRACE(describe(s) << (bc.batch_stats ? ", batch statistics" : ", running statistics")
                           << (bc.with_gx ? "" : ", no gx")
                           << (bc.misalign_gx ? ", misaligned gx" : "")
                           << (bc.force_int64 ? ", int64 indices" : ""));
  const auto x = test::random_floats(s.count(), seed, -2.f, 2.f);
  const auto gy = test::random_floats(s.count(), seed + 1);
  ChannelParams p = random_params(s.c, seed + 2);
  if (bc.batch_stats) {  // the batch's own statistics, as in training
    cpu::batch_norm_stats_reference<float>(s.n, s.c, s.hw, x.data(), p.mean.data(), p.var.data(),
                                           kMomentum, nullptr, nullptr);
  }
  std::vector<float> gx(s.count(), kSentinelA), ggamma(s.c, kSentinelA), gbeta(s.c, kSentinelA);
  const std::size_t shift = bc.misalign_gx ? 1 : 0;
  std::vector<float> got_gx(s.count() + shift, kSentinelB);
  std::vector<float> got_ggamma(s.c, kSentinelB), got_gbeta(s.c, kSentinelB);
  cpu::batch_norm_backward_reference<float>(
      s.n, s.c, s.hw, kEps, bc.batch_stats, x.data(), gy.data(), p.mean.data(), p.var.data(),
      p.gamma.data(), bc.with_gx ? gx.data() : nullptr, ggamma.data(), gbeta.data());
  const EmulatedLaunch launch(s.max_blocks);
  float* out = bc.with_gx ? got_gx.data() + shift : nullptr;
  if (bc.force_int64) {  // the sums alone, then the 64-bit input gradient
    emulated::queue_batch_norm_backward(launch, s.n, s.c, s.hw, kEps, bc.batch_stats, x.data(),
                                        gy.data(), p.mean.data(), p.var.data(), p.gamma.data(),
                                        nullptr, got_ggamma.data(), got_gbeta.data());
    emulated::queue_batch_norm_input_grad_indexed<std::int64_t>(
        launch, s.n, s.c, s.hw, kEps, bc.batch_stats, x.data(), gy.data(), p.mean.data(),
        p.var.data(), p.gamma.data(), got_ggamma.data(), got_gbeta.data(), out);
  } else {
    emulated::queue_batch_norm_backward(launch, s.n, s.c, s.hw, kEps, bc.batch_stats, x.data(),
                                        gy.data(), p.mean.data(), p.var.data(), p.gamma.data(), out,
                                        got_ggamma.data(), got_gbeta.data());
  }
  expect_sums_close(ggamma, got_ggamma, s.m(), "batch_norm_backward ggamma");
  expect_sums_close(gbeta, got_gbeta, s.m(), "batch_norm_backward gbeta");

  const auto sums = sums_block(s) == 1024u
                        ? launch.shapes_of(emulated::batch_norm_backward_sums_kernel<1024>)
                        : launch.shapes_of(emulated::batch_norm_backward_sums_kernel<256>);
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0].grid.x, s.c);
  EXPECT_EQ(sums[0].block.x, sums_block(s));
  if (!bc.with_gx) {
    EXPECT_EQ(launch.launches(), 1u) << "no gx, no input-gradient kernel";
    return;
  }
  ASSERT_EQ(launch.launches(), 2u);
  const bool vec4 = s.hw % 4 == 0 && !bc.misalign_gx;
  const bool ran =
      bc.force_int64
          ? (vec4 ? launch.launched(emulated::batch_norm_input_grad_vec4_kernel<std::int64_t>)
                  : launch.launched(emulated::batch_norm_input_grad_kernel<std::int64_t>))
          : (vec4 ? launch.launched(emulated::batch_norm_input_grad_vec4_kernel<std::uint32_t>)
                  : launch.launched(emulated::batch_norm_input_grad_kernel<std::uint32_t>));
  EXPECT_TRUE(ran) << (vec4 ? "the float4 input gradient" : "the scalar input gradient");

  test::batch_norm::expect_input_grad_close(s.c, s.hw, s.m(), bc.batch_stats, x, p, ggamma, gbeta,
                                            got_ggamma, got_gbeta, gx, got_gx.data() + shift,
                                            "emulated");
}

TEST(BatchNormEmulated, BackwardWithBatchStatistics) {
  std::uint64_t seed = 600;
  for (const Shape& s : kChannelShapes) check_backward({s, /*batch_stats=*/true}, seed += 3);
}

TEST(BatchNormEmulated, BackwardWithRunningStatistics) {
  std::uint64_t seed = 700;
  for (const Shape& s : {Shape{2, 3, 17}, Shape{3, 5, 64}, Shape{64, 3, 1}})
    check_backward({s, /*batch_stats=*/false}, seed += 3);
}

TEST(BatchNormEmulated, BackwardWithoutInputGradient) {
  check_backward({{2, 3, 17}, true, /*with_gx=*/false}, 800);
  check_backward({{3, 5, 64}, false, /*with_gx=*/false}, 803);
}

// Capped grids, so the input gradient's grid-stride loop wraps; a misaligned gx; the 64-bit
// instantiations.
TEST(BatchNormEmulated, BackwardInputGradientPaths) {
  std::uint64_t seed = 900;
  const std::vector<BackwardCase> cases = {
      {{2, 3, 2053, 2}, true},                     // scalar, wraps 12 times
      {{3, 4, 1024, 2}, true},                     // float4, wraps 6 times
      {{3, 4, 1024, 2}, false},                    // float4, running statistics
      {{3, 6, 64}, true, true, true},              // misaligned gx: scalar
      {{2, 3, 17, 1}, true, true, false, true},    // int64, scalar
      {{3, 4, 1024, 2}, true, true, false, true},  // int64, float4, wraps
  };
  for (const BackwardCase& bc : cases) check_backward(bc, seed += 3);
}

}  // namespace
}  // namespace kiln::kernels
