// The GPU's input path (data/gpu_input.h) on the CPU: the loader's BatchForm::Pixels batches go
// through the double-buffered upload (kernels/upload_ring.h, on the thread streams of
// tests/support/thread_streams.h) and the fused augmentation + preprocessing kernel
// (kernels/cuda/augment_kernels.cuh, the source nvcc builds, run by the CUDA emulation and queued
// on the compute stream behind each upload), and must give the batches the CPU path gives: same
// images, same labels, same transforms, for a whole shuffled, augmented epoch. Tolerance: that of
// tests/cuda/augment_parity_test.cpp (1e-4 absolute); under emulation the arithmetic is the same
// IEEE arithmetic, so no element may differ at all.

// clang-format off
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "core/random.h"
#include "data/loader.h"
#include "kernels/augment.h"
#include "kernels/cuda/augment_kernels.cuh"
#include "kernels/upload_ring.h"
#include "tests/cuda/parity.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/random_images.h"
#include "tests/support/test_data.h"
#include "tests/support/thread_streams.h"

namespace kiln {
namespace {

namespace emulated = kernels::cuda::emulated;

LoaderOptions augmented(BatchForm form) {
  LoaderOptions o;
  o.batch_size = 5;  // 23 images: 4 full batches and a tail of 3
  o.seed = 2024;
  o.augment.rotation_deg = 25;
  o.augment.width_shift = 0.2;
  o.augment.height_shift = 0.1;
  o.augment.zoom = 0.15;
  o.augment.horizontal_flip = true;
  o.form = form;
  return o;
}

// One epoch through the GPU path's order (GpuInput): stage k+1 after queueing batch k.
std::vector<std::vector<float>> device_epoch(BatchLoader& loader, std::int64_t epoch, int h, int w,
                                             std::vector<Batch>& batches,
                                             test::EmulatedLaunch& launch) {
  loader.start_epoch(epoch);
  while (auto b = loader.next()) batches.push_back(std::move(*b));
  const std::size_t image = static_cast<std::size_t>(h) * w * 3;
  test::ThreadStreams streams(/*max_pause_us=*/40, /*seed=*/3);
  std::vector<std::vector<float>> out(batches.size());
  std::mutex launch_mutex;  // the launch log is not thread-safe; one compute stream uses it
  {
    kernels::UploadRing<test::ThreadStreams> ring(streams, 5 * image);
    auto stage = [&](const Batch& b) { return ring.stage(b.pixels.data(), b.pixels.size()); };
    auto next = stage(batches[0]);
    for (std::size_t k = 0; k < batches.size(); ++k) {
      const Batch& b = batches[k];
      const auto ticket = next;
      const auto* pixels = static_cast<const std::uint8_t*>(ring.acquire(ticket));
      std::vector<kernels::AffineTransform> transforms;
      for (const AffineParams& p : b.transforms)
        transforms.push_back({p.theta, p.tx, p.ty, p.zx, p.zy, p.flip});
      const auto n = static_cast<std::int64_t>(b.indices.size());
      out[k].assign(static_cast<std::size_t>(n) * image, test::kSentinelB);
      float* dst = out[k].data();
      streams.compute().enqueue([&, n, pixels, dst, transforms] {
        const std::vector<kernels::AffineSampling> table =
            emulated::make_sampling_table(n, transforms.data());
        std::lock_guard<std::mutex> lock(launch_mutex);
        emulated::queue_augment_preprocess(launch, n, h, w, pixels, table.data(), dst);
      });
      ring.release(ticket);
      if (k + 1 < batches.size()) next = stage(batches[k + 1]);
    }
  }  // waits for both streams
  return out;
}

TEST(GpuInputEmulated, UploadAndKernelGiveTheCpuPathsBatches) {
  constexpr int kH = 9, kW = 11;  // odd and not square: a swapped axis shows
  const ImageDataset data = test::random_images(23, kH, kW, 4, 99);
  BatchLoader cpu_loader(data, augmented(BatchForm::Network));
  BatchLoader pixel_loader(data, augmented(BatchForm::Pixels));
  test::EmulatedLaunch launch(/*cap=*/2);  // a grid-stride loop that wraps
  for (const std::int64_t epoch : {0, 3}) {
    std::vector<Batch> pixel_batches;
    const std::vector<std::vector<float>> got =
        device_epoch(pixel_loader, epoch, kH, kW, pixel_batches, launch);
    cpu_loader.start_epoch(epoch);
    std::size_t k = 0;
    while (auto cpu = cpu_loader.next()) {
      ASSERT_LT(k, got.size());
      const Batch& px = pixel_batches[k];
      EXPECT_EQ(px.indices, cpu->indices) << "epoch " << epoch << " batch " << k;
      EXPECT_EQ(px.labels.to_vector<std::int32_t>(), cpu->labels.to_vector<std::int32_t>());
      EXPECT_FALSE(px.images.defined());  // the pixel form carries no float images
      const std::vector<float> want = cpu->images.to_vector<float>();
      test::expect_close(want, got[k], 0.0, 1e-4, "device input vs CPU input");
      std::size_t differ = 0;
      for (std::size_t i = 0; i < want.size(); ++i) differ += want[i] != got[k][i];
      EXPECT_EQ(differ, 0u) << "epoch " << epoch << " batch " << k;
      ++k;
    }
    EXPECT_EQ(k, got.size());
  }
  EXPECT_TRUE(launch.launched(emulated::augment_preprocess_kernel));
}

// The pixel form hands out what is stored and the transforms the CPU path applies.
TEST(GpuInputEmulated, PixelBatchesHoldStoredImagesAndTheCpuPathsTransforms) {
  const ImageDataset data = test::random_images(7, 4, 6, 4, 99);
  BatchLoader loader(data, augmented(BatchForm::Pixels));
  loader.start_epoch(1);
  const std::size_t image = 4 * 6 * 3;
  while (auto b = loader.next()) {
    ASSERT_EQ(b->pixels.size(), b->indices.size() * image);
    ASSERT_EQ(b->transforms.size(), b->indices.size());
    EXPECT_EQ(b->height, 4);
    EXPECT_EQ(b->width, 6);
    for (std::size_t k = 0; k < b->indices.size(); ++k) {
      const std::int64_t i = b->indices[k];
      EXPECT_TRUE(std::equal(data.image(i), data.image(i) + image, b->pixels.begin() + k * image));
      const AffineParams want = loader.affine_params(1, i), got = b->transforms[k];
      EXPECT_EQ(got.theta, want.theta);
      EXPECT_EQ(got.tx, want.tx);
      EXPECT_EQ(got.zy, want.zy);
      EXPECT_EQ(got.flip, want.flip);
      EXPECT_FALSE(got.is_identity());
    }
  }
}

}  // namespace
}  // namespace kiln
