// The CUDA augmentation + VGG preprocessing kernel against cpu::augment_preprocess (which the
// kernels tests hold equal to data/'s apply_affine + vgg_preprocess), for random rotations, shifts,
// zooms and flips drawn as training draws them, and for hand-picked special cases.
//
// Tolerance 1e-4 (absolute, on values within about +-152). Both devices run kernels/affine_sample.h
// on the same doubles: cos and sin come from the host, and the device spells every multiply-add
// with __d*_rn so nothing is fused. So the outputs are expected to be bitwise equal, and the count
// of differing elements is reported. The slack is for what this test cannot see without a GPU
// (say, a library rounding differently): bilinear sampling is continuous, so even a sampling
// position moved by an ulp across a pixel boundary changes a value by ~1e-13, while a wrong map
// (a sign, a swapped axis, a missed flip) moves values by whole intensity steps.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <tuple>
#include <utility>
#include <vector>

#include "core/random.h"
#include "data/augment.h"
#include "kernels/augment.h"
#include "kernels/device_memory.h"
#include "tests/cuda/device_vector.h"
#include "tests/cuda/parity.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;
using test::DeviceVector;

constexpr double kTol = 1e-4;

std::vector<std::uint8_t> random_batch(std::int64_t n, int h, int w, std::uint64_t seed) {
  const auto v = test::random_ints(n * h * w * 3, seed, 0, 256);
  return std::vector<std::uint8_t>(v.begin(), v.end());
}

void check_augment_parity(std::int64_t n, int h, int w,
                          const std::vector<kernels::AffineTransform>& transforms,
                          std::uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << n << " images of " << h << "x" << w);
  const auto images = random_batch(n, h, w, seed);
  std::vector<float> expected(images.size(), test::kSentinelA);
  kernels::cpu::augment_preprocess(n, h, w, images.data(), transforms.data(), expected.data());
  const DeviceVector<std::uint8_t> dimages(images);
  DeviceVector<float> dout(static_cast<std::int64_t>(images.size()), test::kSentinelB);
  cuda::augment_preprocess(n, h, w, dimages.get(), transforms.data(), dout.get());
  const std::vector<float> got = dout.download();
  std::int64_t differing = 0;
  for (std::size_t i = 0; i < got.size(); ++i) differing += got[i] != expected[i];
  ::testing::Test::RecordProperty("differing_elements", static_cast<int>(differing));
  if (differing > 0)
    std::printf("augment parity: %lld of %zu elements differ (within tolerance or not)\n",
                static_cast<long long>(differing), got.size());
  test::expect_close(expected, got, 0.0, kTol, "augment_preprocess");
}

TEST(CudaAugmentParity, RandomTransformsAsTrainingDrawsThem) {
  KILN_REQUIRE_CUDA();
  AugmentOptions options;
  options.rotation_deg = 30;
  options.width_shift = 0.15;
  options.height_shift = 0.1;
  options.zoom = 0.2;
  options.horizontal_flip = true;
  // CIFAR-10's size in a batch of 64; a non-square image; a batch big enough that the grid loops.
  for (const auto& [n, h, w] :
       {std::tuple{64, 32, 32}, std::tuple{5, 17, 23}, std::tuple{1100, 32, 32}}) {
    Generator gen(n * 1000 + h + w);
    std::vector<kernels::AffineTransform> transforms;
    for (int i = 0; i < n; ++i) {
      const AffineParams p = draw_affine(options, h, w, gen);
      transforms.push_back(kernels::AffineTransform{p.theta, p.tx, p.ty, p.zx, p.zy, p.flip});
    }
    check_augment_parity(n, h, w, transforms, 50 + n);
  }
}

TEST(CudaAugmentParity, IdentityFlipQuarterTurnZoomAndFarShift) {
  KILN_REQUIRE_CUDA();
  std::vector<kernels::AffineTransform> t(6, kernels::AffineTransform{0, 0, 0, 1, 1, false});
  t[1].flip = true;
  t[2].theta = M_PI / 2;
  t[3].zx = 1.3, t[3].zy = 0.7;
  t[4].tx = 40, t[4].ty = -40;  // wholly outside: nearest fill everywhere
  t[5].theta = -0.4, t[5].tx = 2.5, t[5].zy = 1.1, t[5].flip = true;
  check_augment_parity(static_cast<std::int64_t>(t.size()), 12, 12, t, 60);
  check_augment_parity(static_cast<std::int64_t>(t.size()), 7, 9, t, 61);  // odd, non-square
}

TEST(CudaAugmentParity, ConsecutiveBatchesUseTheirOwnTransforms) {
  KILN_REQUIRE_CUDA();
  // Two launches queued back to back: the second upload of the table must not overtake the first
  // launch's reads (both are ordered on Kiln's stream).
  const std::int64_t n = 8;
  const int h = 16, w = 16;
  const auto images = random_batch(n, h, w, 70);
  std::vector<kernels::AffineTransform> a(n, kernels::AffineTransform{0.3, 1, 2, 1.1, 0.9, true});
  std::vector<kernels::AffineTransform> b(n,
                                          kernels::AffineTransform{-0.7, -2, 0, 0.8, 1.2, false});
  std::vector<float> ea(images.size()), eb(images.size());
  kernels::cpu::augment_preprocess(n, h, w, images.data(), a.data(), ea.data());
  kernels::cpu::augment_preprocess(n, h, w, images.data(), b.data(), eb.data());
  const DeviceVector<std::uint8_t> dimages(images);
  DeviceVector<float> da(static_cast<std::int64_t>(images.size()), test::kSentinelB);
  DeviceVector<float> db(static_cast<std::int64_t>(images.size()), test::kSentinelB);
  cuda::augment_preprocess(n, h, w, dimages.get(), a.data(), da.get());
  cuda::augment_preprocess(n, h, w, dimages.get(), b.data(), db.get());
  test::expect_close(ea, da.download(), 0.0, kTol, "first batch");
  test::expect_close(eb, db.download(), 0.0, kTol, "second batch");
}

}  // namespace
}  // namespace kiln
