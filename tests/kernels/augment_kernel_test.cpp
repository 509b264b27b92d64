// cpu::augment_preprocess (the fused augmentation + VGG preprocessing kernel, the CUDA kernel's
// twin) against the data/ path it replaces: apply_affine, then vgg_preprocess, image by image.
// Both call kernels/affine_sample.h for the per-pixel math with the same operations in the same
// order, so they must agree exactly, for every kind of transform.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/error.h"
#include "core/random.h"
#include "data/augment.h"
#include "data/preprocess.h"
#include "kernels/augment.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

std::vector<std::uint8_t> random_batch(std::int64_t n, int h, int w, std::uint64_t seed) {
  const auto v = test::random_ints(n * h * w * 3, seed, 0, 256);
  return std::vector<std::uint8_t>(v.begin(), v.end());
}

kernels::AffineTransform to_transform(const AffineParams& p) {
  return kernels::AffineTransform{p.theta, p.tx, p.ty, p.zx, p.zy, p.flip};
}

// data/'s two steps, image by image: (n, h, w, 3) uint8 -> (n, 3, h, w) float.
std::vector<float> data_path(const std::vector<std::uint8_t>& images, std::int64_t n, int h, int w,
                             const std::vector<AffineParams>& params) {
  const std::size_t pixels = static_cast<std::size_t>(h) * w * 3;
  std::vector<float> out(n * pixels, test::kSentinelA), augmented(pixels);
  for (std::int64_t i = 0; i < n; ++i) {
    apply_affine(images.data() + i * pixels, h, w, 3, params[i], augmented.data());
    vgg_preprocess(augmented.data(), h, w, out.data() + i * pixels);
  }
  return out;
}

std::vector<float> kernel_path(const std::vector<std::uint8_t>& images, std::int64_t n, int h,
                               int w, const std::vector<AffineParams>& params) {
  std::vector<kernels::AffineTransform> transforms;
  for (const AffineParams& p : params) transforms.push_back(to_transform(p));
  std::vector<float> out(images.size(), test::kSentinelB);
  kernels::cpu::augment_preprocess(n, h, w, images.data(), transforms.data(), out.data());
  return out;
}

void expect_identical(const std::vector<float>& expected, const std::vector<float>& got) {
  ASSERT_EQ(expected.size(), got.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    ASSERT_EQ(expected[i], got[i]) << "element " << i;
}

TEST(AugmentKernel, RandomTransformsEqualApplyAffineThenVggPreprocess) {
  AugmentOptions options;
  options.rotation_deg = 30;
  options.width_shift = 0.15;
  options.height_shift = 0.1;
  options.zoom = 0.2;
  options.horizontal_flip = true;
  for (const auto& [h, w] : {std::pair{32, 32}, std::pair{17, 23}, std::pair{1, 5}}) {
    SCOPED_TRACE(::testing::Message() << h << "x" << w);
    const std::int64_t n = 9;
    const auto images = random_batch(n, h, w, 1000 + h);
    Generator gen(h * 100 + w);
    std::vector<AffineParams> params;
    for (std::int64_t i = 0; i < n; ++i) params.push_back(draw_affine(options, h, w, gen));
    expect_identical(data_path(images, n, h, w, params), kernel_path(images, n, h, w, params));
  }
}

TEST(AugmentKernel, SpecialTransformsEqualTheDataPath) {
  const int h = 12, w = 12;
  std::vector<AffineParams> params(6);
  params[1].flip = true;                   // a pure mirror
  params[2].theta = M_PI / 2;              // an exact permutation of a square image
  params[3].zx = 1.3, params[3].zy = 0.7;  // zoom out along x, in along y
  params[4].tx = 40, params[4].ty = -40;   // shifted wholly outside: nearest fill everywhere
  params[5].theta = -0.4, params[5].tx = 2.5, params[5].zy = 1.1, params[5].flip = true;
  const std::int64_t n = static_cast<std::int64_t>(params.size());
  const auto images = random_batch(n, h, w, 77);
  const auto expected = data_path(images, n, h, w, params);
  expect_identical(expected, kernel_path(images, n, h, w, params));
  // The identity (params[0]) is plain VGG preprocessing of the uint8 image.
  std::vector<float> plain(static_cast<std::size_t>(3) * h * w);
  vgg_preprocess(images.data(), h, w, plain.data());
  for (std::size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(plain[i], expected[i]) << i;
}

TEST(AugmentKernel, EmptyBatchWritesNothingAndBadShapesThrow) {
  std::vector<float> out(4, test::kSentinelA);
  kernels::cpu::augment_preprocess(0, 4, 4, nullptr, nullptr, out.data());
  for (float v : out) EXPECT_EQ(v, test::kSentinelA);
  EXPECT_THROW(kernels::cpu::augment_preprocess(1, 0, 4, nullptr, nullptr, out.data()), Error);
  EXPECT_THROW(kernels::cpu::augment_preprocess(-1, 4, 4, nullptr, nullptr, out.data()), Error);
}

}  // namespace
}  // namespace kiln
