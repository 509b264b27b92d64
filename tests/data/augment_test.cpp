#include "data/augment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace kiln {
namespace {

// (h, w, c) distinct-ish pixel values from a seeded generator.
std::vector<std::uint8_t> random_image(int h, int w, int c, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<std::uint8_t> img(static_cast<std::size_t>(h) * w * c);
  for (auto& v : img) v = static_cast<std::uint8_t>(gen.next_u64() & 255);
  return img;
}

std::vector<float> apply(const std::vector<std::uint8_t>& src, int h, int w, int c,
                         const AffineParams& p) {
  std::vector<float> dst(src.size(), -1.f);  // a sentinel no output value can equal
  apply_affine(src.data(), h, w, c, p, dst.data());
  return dst;
}

float at(const std::vector<std::uint8_t>& img, int w, int c, int y, int x, int ch) {
  return img[(static_cast<std::size_t>(y) * w + x) * c + ch];
}
float at(const std::vector<float>& img, int w, int c, int y, int x, int ch) {
  return img[(static_cast<std::size_t>(y) * w + x) * c + ch];
}

TEST(Augment, IdentityLeavesImageUnchanged) {
  const int h = 5, w = 7, c = 3;
  const auto src = random_image(h, w, c, 1);
  const auto dst = apply(src, h, w, c, AffineParams{});
  for (std::size_t i = 0; i < src.size(); ++i) ASSERT_EQ(dst[i], src[i]) << i;
}

TEST(Augment, FlipMirrorsColumns) {
  const int h = 4, w = 5, c = 3;
  const auto src = random_image(h, w, c, 2);
  AffineParams p;
  p.flip = true;
  const auto dst = apply(src, h, w, c, p);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        ASSERT_EQ(at(dst, w, c, y, x, ch), at(src, w, c, y, w - 1 - x, ch));
}

TEST(Augment, QuarterTurnOfSquareImageIsExactPermutation) {
  for (int n : {6, 5}) {  // even and odd sides: the centre is between pixels or on one
    const int c = 2;
    const auto src = random_image(n, n, c, 3);
    AffineParams p;
    p.theta = M_PI / 2;
    const auto dst = apply(src, n, n, c, p);
    // in = o + R(90) (out - o): x_in = (n-1) - y_out, y_in = x_out.
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        for (int ch = 0; ch < c; ++ch)
          ASSERT_EQ(at(dst, n, c, y, x, ch), at(src, n, c, x, n - 1 - y, ch))
              << n << ": " << y << "," << x;
    std::vector<float> a(src.begin(), src.end()), b = dst;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);  // a permutation of the pixels
  }
}

TEST(Augment, IntegerShiftsMoveContentWithNearestFill) {
  const int h = 6, w = 8, c = 3;
  const auto src = random_image(h, w, c, 4);
  AffineParams p;
  p.tx = 2;   // samples 2 pixels to the right: content moves LEFT by 2
  p.ty = -1;  // samples 1 pixel up: content moves DOWN by 1
  const auto dst = apply(src, h, w, c, p);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) {
        // Sampling outside the image clamps to the edge (fill_mode "nearest").
        const int sx = std::min(x + 2, w - 1), sy = std::max(y - 1, 0);
        ASSERT_EQ(at(dst, w, c, y, x, ch), at(src, w, c, sy, sx, ch)) << y << "," << x;
      }
}

TEST(Augment, ZoomOutOfConstantImageStaysConstant) {
  const int h = 8, w = 8, c = 3;
  const std::vector<std::uint8_t> src(h * w * c, 77);
  AffineParams p;
  p.zx = p.zy = 2;  // zoom > 1 zooms out: samples reach beyond the edges, which clamp
  p.theta = 0.3;
  for (float v : apply(src, h, w, c, p)) ASSERT_EQ(v, 77.f);
}

TEST(Augment, ZoomInInterpolatesBilinearlyAboutTheCentre) {
  // A horizontal ramp 10x on a 4x4 image; zx = 0.5 samples at x_in = 1.5 + 0.5 (x - 1.5).
  const int h = 4, w = 4, c = 1;
  std::vector<std::uint8_t> src(h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) src[y * w + x] = static_cast<std::uint8_t>(10 * x);
  AffineParams p;
  p.zx = 0.5;
  const auto dst = apply(src, h, w, c, p);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) EXPECT_FLOAT_EQ(dst[y * w + x], 10 * (0.75 + 0.5 * x));
}

TEST(Augment, FlipAppliesAfterTheAffineTransform) {
  const int h = 6, w = 6, c = 1;
  const auto src = random_image(h, w, c, 5);
  AffineParams shifted;
  shifted.tx = 1;
  AffineParams both = shifted;
  both.flip = true;
  const auto a = apply(src, h, w, c, shifted), b = apply(src, h, w, c, both);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) ASSERT_EQ(at(b, w, c, y, x, 0), at(a, w, c, y, w - 1 - x, 0));
}

TEST(Augment, DrawsStayInRangeAndCoverIt) {
  AugmentOptions o;
  o.rotation_deg = 30;
  o.width_shift = 0.1;
  o.height_shift = 0.2;
  o.zoom = 0.15;
  o.horizontal_flip = true;
  ASSERT_TRUE(o.enabled());
  const int h = 32, w = 40;
  Generator gen(9);
  double lo[5] = {1e9, 1e9, 1e9, 1e9, 1e9}, hi[5] = {-1e9, -1e9, -1e9, -1e9, -1e9};
  int flips = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const AffineParams p = draw_affine(o, h, w, gen);
    const double v[5] = {p.theta, p.tx, p.ty, p.zx, p.zy};
    for (int k = 0; k < 5; ++k) {
      lo[k] = std::min(lo[k], v[k]);
      hi[k] = std::max(hi[k], v[k]);
    }
    flips += p.flip;
  }
  const double limit[5][2] = {
      {-M_PI / 6, M_PI / 6}, {-4, 4}, {-6.4, 6.4}, {0.85, 1.15}, {0.85, 1.15}};
  for (int k = 0; k < 5; ++k) {
    EXPECT_GE(lo[k], limit[k][0]) << k;
    EXPECT_LE(hi[k], limit[k][1]) << k;
    const double span = limit[k][1] - limit[k][0];
    EXPECT_LT(lo[k], limit[k][0] + 0.01 * span) << k;  // 20000 draws reach both ends
    EXPECT_GT(hi[k], limit[k][1] - 0.01 * span) << k;
  }
  EXPECT_NEAR(flips, kDraws / 2.0, 400);  // sd 71
}

TEST(Augment, ShiftsOfOneOrMoreArePixelsAndOffOptionsStayNeutral) {
  AugmentOptions o;
  o.width_shift = 3;  // >= 1: pixels, not a fraction of the width
  Generator gen(11);
  for (int i = 0; i < 1000; ++i) {
    const AffineParams p = draw_affine(o, 100, 100, gen);
    ASSERT_LE(std::abs(p.tx), 3);
    ASSERT_EQ(p.ty, 0);
    ASSERT_EQ(p.theta, 0);
    ASSERT_EQ(p.zx, 1);
    ASSERT_FALSE(p.flip);
  }
  EXPECT_FALSE(AugmentOptions{}.enabled());
  EXPECT_TRUE(draw_affine(AugmentOptions{}, 8, 8, gen).is_identity());
}

TEST(Augment, EachQuantityHasAFixedDrawSlot) {
  AugmentOptions rot_only;
  rot_only.rotation_deg = 20;
  AugmentOptions rot_zoom = rot_only;
  rot_zoom.zoom = 0.2;
  Generator a(5), b(5);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(draw_affine(rot_only, 8, 8, a).theta, draw_affine(rot_zoom, 8, 8, b).theta);
  }
}

TEST(Augment, BadOptionsAreErrors) {
  AugmentOptions o;
  o.zoom = 1.0;
  EXPECT_THROW(o.check(), Error);
  o.zoom = 0;
  o.rotation_deg = -1;
  EXPECT_THROW(o.check(), Error);
}

}  // namespace
}  // namespace kiln
