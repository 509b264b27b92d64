// The max-pooling, dropout and augmentation kernels (kernels/cuda/pool2d_kernels.cuh,
// dropout_kernels.cuh, augment_kernels.cuh), the very source nvcc builds, run on the CPU through
// the CUDA emulation and launched by the library's own queue_* functions, against their CPU twins:
// the bodies of tests/cuda/kernels_parity_test.cpp (pooling, dropout) and
// tests/cuda/augment_parity_test.cpp, at sizes the emulation runs in moments. CPU outputs start
// as kSentinelA, emulated ones as kSentinelB.
//
// Tolerances, those of the GPU tests: pooling compares the same values in the same order and the
// backward's gather adds in the CPU's order; the dropout mask is the same double comparison of
// the same counter-based random number and y one multiply: all bitwise. Augmentation: both sides
// run kernels/affine_sample.h on the same doubles, and here the device spelling of it (the
// __d*_rn intrinsics, as this file is compiled with __CUDA_ARCH__ defined) is the same IEEE
// arithmetic as the host's, so the outputs are expected bitwise equal; the GPU test's 1e-4 is
// kept, and the count of differing elements must be zero here.

// clang-format off
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/random.h"
#include "data/augment.h"
#include "kernels/augment.h"
#include "kernels/cuda/augment_kernels.cuh"
#include "kernels/cuda/dropout_kernels.cuh"
#include "kernels/cuda/pool2d_kernels.cuh"
#include "kernels/dropout.h"
#include "kernels/pool2d.h"
#include "tests/cuda/parity.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

namespace emulated = cuda::emulated;
using test::EmulatedLaunch;
using test::kSentinelA;
using test::kSentinelB;

// ---------------------------------------------------------------------------------------------
// Max pooling

std::string describe(const Pool2dGeometry& g) {
  std::ostringstream out;
  out << "input " << g.n << "x" << g.c << "x" << g.h << "x" << g.w << ", window " << g.kh << "x"
      << g.kw << ", stride " << g.stride_h << "x" << g.stride_w << ", padding " << g.pad_h << "x"
      << g.pad_w;
  return out.str();
}

struct PoolCase {
  Pool2dGeometry g;
  std::int64_t cap;  // EmulatedLaunch's grid cap (0: the library's)
};

// Forward (values and argmax) and backward on both sides, compared bitwise.
void check_pool_parity(const PoolCase& c, const std::vector<float>& x, std::uint64_t seed) {
  const Pool2dGeometry& g = c.g;
  SCOPED_TRACE(describe(g) + ", grid cap " + std::to_string(c.cap));
  const std::int64_t out = g.n * g.c * g.p() * g.q();
  const std::int64_t in = g.n * g.c * g.h * g.w;
  const auto gy = test::random_floats(out, seed);
  std::vector<float> y(out, kSentinelA), gx(in, kSentinelA);
  std::vector<std::int32_t> argmax(out, -7);
  cpu::max_pool2d_forward_reference(g, x.data(), y.data(), argmax.data());
  cpu::max_pool2d_backward_reference(g, gy.data(), argmax.data(), gx.data());

  std::vector<float> got_y(out, kSentinelB), got_gx(in, kSentinelB);
  std::vector<std::int32_t> got_argmax(out, -9);
  const EmulatedLaunch launch(c.cap);
  emulated::queue_max_pool2d_forward(launch, g, x.data(), got_y.data(), got_argmax.data());
  emulated::queue_max_pool2d_backward(launch, g, gy.data(), got_argmax.data(), got_gx.data());
  test::expect_bitwise_equal(y, got_y, "max_pool2d forward");
  test::expect_equal(argmax, got_argmax, "max_pool2d argmax");
  test::expect_bitwise_equal(gx, got_gx, "max_pool2d backward");
  EXPECT_TRUE(launch.launched(emulated::max_pool2d_forward_kernel));
  EXPECT_TRUE(launch.launched(emulated::max_pool2d_backward_kernel));
}

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases = {
      {{2, 3, 9, 8, 2, 2, 2, 2, 0, 0}, 0},    // VGG's 2x2/2, odd size: the last row is dropped
      {{2, 4, 7, 7, 3, 3, 2, 2, 1, 1}, 0},    // overlapping windows with padding
      {{1, 5, 10, 11, 3, 3, 1, 1, 1, 1}, 0},  // stride 1: each cell in up to 9 windows
      {{3, 2, 6, 6, 2, 3, 1, 2, 1, 0}, 0},    // rectangular window, mixed strides
      {{1, 2, 5, 5, 5, 5, 1, 1, 0, 0}, 0},    // one window covers the plane
      {{4, 8, 17, 19, 2, 2, 2, 2, 0, 0}, 2},  // capped grid: both grid-stride loops wrap
  };
  return cases;
}

TEST(PoolEmulated, MaxPoolRandomInputsBitwiseEqual) {
  std::uint64_t seed = 20;
  for (const PoolCase& c : pool_cases()) {
    check_pool_parity(c, test::random_floats(c.g.n * c.g.c * c.g.h * c.g.w, seed), seed + 1);
    seed += 2;
  }
}

// Inputs drawn from {-1, 0, 1} and all-negative planes: ties in almost every window, so argmax
// checks the first-maximum rule; with overlapping windows one cell wins several outputs, so the
// backward must add their gradients (in the CPU's order).
TEST(PoolEmulated, MaxPoolTiesPickTheFirstMaximum) {
  std::uint64_t seed = 40;
  for (const PoolCase& c : pool_cases()) {
    std::vector<float> x(c.g.n * c.g.c * c.g.h * c.g.w);
    const auto levels = test::random_ints(static_cast<std::int64_t>(x.size()), seed, -1, 2);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(levels[i]);
    check_pool_parity(c, x, seed + 1);
    for (float& v : x) v = -1.f - std::abs(v);  // all negative: padding must never win
    check_pool_parity(c, x, seed + 1);
    seed += 2;
  }
}

TEST(PoolEmulated, MaxPoolNaNWinsItsWindow) {
  const PoolCase c{{2, 3, 8, 8, 3, 3, 2, 2, 1, 1}, 0};
  auto x = test::random_floats(c.g.n * c.g.c * c.g.h * c.g.w, 60);
  for (std::size_t i = 3; i < x.size(); i += 37) x[i] = std::numeric_limits<float>::quiet_NaN();
  check_pool_parity(c, x, 61);
}

// ---------------------------------------------------------------------------------------------
// Dropout

TEST(DropoutEmulated, MaskAndOutputBitwiseEqual) {
  const std::int64_t n = 2 * 3 * 256 + 301;  // a 3-block grid loops twice
  const auto x = test::random_floats(n, 11);
  struct Case {
    double p;
    std::uint64_t seed, offset;
  };
  // p = 0.3 has an inexact 1 / (1 - p); the offset above 2^32 checks 64-bit counters.
  for (const Case c : {Case{0.5, 42, 0}, Case{0.3, 7, 123457}, Case{0.0, 1, 9},
                       Case{0.9, 99, (std::uint64_t{1} << 40) + 3}}) {
    SCOPED_TRACE(::testing::Message()
                 << "p " << c.p << ", seed " << c.seed << ", offset " << c.offset);
    std::vector<float> y(n, kSentinelA), mask(n, kSentinelA);
    cpu::dropout_forward_reference(n, c.p, c.seed, c.offset, x.data(), y.data(), mask.data());
    std::vector<float> got_y(n, kSentinelB), got_mask(n, kSentinelB);
    const EmulatedLaunch launch(3);
    emulated::queue_dropout_forward(launch, n, c.p, c.seed, c.offset, x.data(), got_y.data(),
                                    got_mask.data());
    test::expect_bitwise_equal(mask, got_mask, "dropout mask");
    test::expect_bitwise_equal(y, got_y, "dropout output");
    const auto shapes = launch.shapes_of(emulated::dropout_forward_kernel);
    ASSERT_EQ(shapes.size(), 1u);
    EXPECT_EQ(shapes[0].grid.x, 3u);
  }
}

// ---------------------------------------------------------------------------------------------
// Augmentation + VGG preprocessing

constexpr double kAugmentTol = 1e-4;

std::vector<std::uint8_t> random_batch(std::int64_t n, int h, int w, std::uint64_t seed) {
  const auto v = test::random_ints(n * h * w * 3, seed, 0, 256);
  return std::vector<std::uint8_t>(v.begin(), v.end());
}

void check_augment_parity(std::int64_t n, int h, int w,
                          const std::vector<AffineTransform>& transforms, std::uint64_t seed,
                          std::int64_t cap = 0) {
  SCOPED_TRACE(::testing::Message() << n << " images of " << h << "x" << w << ", grid cap " << cap);
  const auto images = random_batch(n, h, w, seed);
  std::vector<float> expected(images.size(), kSentinelA), got(images.size(), kSentinelB);
  cpu::augment_preprocess(n, h, w, images.data(), transforms.data(), expected.data());
  // The table augment.cu uploads, here in host memory.
  const std::vector<AffineSampling> table = emulated::make_sampling_table(n, transforms.data());
  const EmulatedLaunch launch(cap);
  emulated::queue_augment_preprocess(launch, n, h, w, images.data(), table.data(), got.data());
  std::int64_t differing = 0;
  for (std::size_t i = 0; i < got.size(); ++i) differing += got[i] != expected[i];
  EXPECT_EQ(differing, 0) << "the same doubles on both sides: expected bitwise equal";
  test::expect_close(expected, got, 0.0, kAugmentTol, "augment_preprocess");
  EXPECT_TRUE(launch.launched(emulated::augment_preprocess_kernel));
}

TEST(AugmentEmulated, RandomTransformsAsTrainingDrawsThem) {
  AugmentOptions options;
  options.rotation_deg = 30;
  options.width_shift = 0.15;
  options.height_shift = 0.1;
  options.zoom = 0.2;
  options.horizontal_flip = true;
  // CIFAR-10's size in a small batch; a non-square image; a batch over a capped grid, which loops.
  for (const auto& [n, h, w, cap] :
       {std::tuple{8, 32, 32, 0}, std::tuple{5, 17, 23, 0}, std::tuple{12, 32, 32, 5}}) {
    Generator gen(n * 1000 + h + w);
    std::vector<AffineTransform> transforms;
    for (int i = 0; i < n; ++i) {
      const AffineParams p = draw_affine(options, h, w, gen);
      transforms.push_back(AffineTransform{p.theta, p.tx, p.ty, p.zx, p.zy, p.flip});
    }
    check_augment_parity(n, h, w, transforms, 50 + n, cap);
  }
}

TEST(AugmentEmulated, IdentityFlipQuarterTurnZoomAndFarShift) {
  std::vector<AffineTransform> t(6, AffineTransform{0, 0, 0, 1, 1, false});
  t[1].flip = true;
  t[2].theta = M_PI / 2;
  t[3].zx = 1.3, t[3].zy = 0.7;
  t[4].tx = 40, t[4].ty = -40;  // wholly outside: nearest fill everywhere
  t[5].theta = -0.4, t[5].tx = 2.5, t[5].zy = 1.1, t[5].flip = true;
  check_augment_parity(static_cast<std::int64_t>(t.size()), 12, 12, t, 60);
  check_augment_parity(static_cast<std::int64_t>(t.size()), 7, 9, t, 61);  // odd, non-square
}

}  // namespace
}  // namespace kiln::kernels
