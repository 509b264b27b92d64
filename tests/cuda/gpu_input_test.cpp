// data/gpu_input.h on a real GPU: the shipped GpuInput (BatchUploader's pinned buffers, copy
// stream and events, then the fused kernel) against the CPU loader's batches for a shuffled,
// augmented epoch, staged one batch ahead as cifar10 train stages them. Between batches the
// compute stream is kept busy writing into blocks the caching allocator then frees and hands
// straight back, so a missing wait between the copy stream and Kiln's stream would show as a
// damaged batch. Tolerance: tests/cuda/augment_parity_test.cpp's (1e-4 absolute).
#include "data/gpu_input.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "core/random.h"
#include "data/loader.h"
#include "kernels/cuda_runtime.h"
#include "tests/cuda/cuda_test.h"
#include "tests/cuda/parity.h"
#include "tests/support/random_images.h"

namespace kiln {
namespace {

LoaderOptions augmented(BatchForm form) {
  LoaderOptions o;
  o.batch_size = 16;  // 150 images: 9 full batches and a tail of 6
  o.seed = 77;
  o.augment.rotation_deg = 20;
  o.augment.width_shift = 0.1;
  o.augment.zoom = 0.1;
  o.augment.horizontal_flip = true;
  o.form = form;
  return o;
}

TEST(CudaGpuInput, StagedOneAheadGivesTheCpuLoadersBatches) {
  KILN_REQUIRE_CUDA();
  const ImageDataset data = test::random_images(150, 32, 32, 2, 5);
  BatchLoader cpu(data, augmented(BatchForm::Network));
  BatchLoader pixels(data, augmented(BatchForm::Pixels));
  GpuInput input(16, 32, 32);
  cpu.start_epoch(2);
  pixels.start_epoch(2);
  std::optional<Batch> next = pixels.next();
  input.stage(*next);
  int k = 0;
  while (auto want = cpu.next()) {
    ASSERT_TRUE(next.has_value());
    const Batch current = std::move(*next);
    const Tensor got = input.images(current);
    // Work on the compute stream into short-lived blocks, as a training step's would be.
    for (int i = 0; i < 4; ++i) Tensor::full({16, 3, 32, 32}, 1e6, DType::Float32, Device::CUDA);
    next = pixels.next();
    if (next) input.stage(*next);
    EXPECT_EQ(current.indices, want->indices) << "batch " << k;
    test::expect_close(want->images.to_vector<float>(), got.to_vector<float>(), 0.0, 1e-4,
                       "GpuInput vs the CPU loader");
    ++k;
  }
  EXPECT_FALSE(next.has_value());
  EXPECT_EQ(k, 10);
}

TEST(CudaGpuInput, RefusesABatchOutOfOrder) {
  KILN_REQUIRE_CUDA();
  const ImageDataset data = test::random_images(40, 8, 8, 2, 5);
  BatchLoader pixels(data, augmented(BatchForm::Pixels));
  GpuInput input(16, 8, 8);
  pixels.start_epoch(0);
  const Batch first = *pixels.next(), second = *pixels.next();
  input.stage(first);
  input.stage(second);
  EXPECT_THROW(input.images(second), Error);
  EXPECT_NO_THROW(input.images(first));
  EXPECT_NO_THROW(input.images(second));
}

}  // namespace
}  // namespace kiln
