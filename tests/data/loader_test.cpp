#include "data/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

#include "base/error.h"
#include "data/preprocess.h"

namespace kiln {
namespace {

// n images of 4x4x3 whose every byte is the image's index, label index % 3: an image's B plane
// after preprocessing is index - 103.939, so each batch says which images it holds.
ImageDataset numbered(int n, int side = 4) {
  ImageDataset ds;
  ds.n = n;
  ds.h = ds.w = side;
  ds.c = 3;
  ds.class_names = {"a", "b", "c"};
  for (int i = 0; i < n; ++i) {
    ds.images.insert(ds.images.end(), static_cast<std::size_t>(side) * side * 3,
                     static_cast<std::uint8_t>(i));
    ds.labels.push_back(i % 3);
  }
  return ds;
}

// A dataset with varied pixels, so augmentation visibly changes images.
ImageDataset textured(int n, int side) {
  ImageDataset ds = numbered(n, side);
  Generator gen(123);
  for (auto& v : ds.images) v = static_cast<std::uint8_t>(gen.next_u64());
  return ds;
}

std::vector<Batch> whole_epoch(BatchLoader& loader, std::int64_t epoch,
                               std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  while (auto b = loader.next()) {
    batches.push_back(std::move(*b));
    std::this_thread::sleep_for(pause);  // a slow "training step" while the next one is made
  }
  return batches;
}

std::vector<std::int64_t> order_of(const std::vector<Batch>& batches) {
  std::vector<std::int64_t> order;
  for (const Batch& b : batches) order.insert(order.end(), b.indices.begin(), b.indices.end());
  return order;
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].indices, b[k].indices) << "batch " << k;
    EXPECT_EQ(a[k].labels.to_vector<std::int32_t>(), b[k].labels.to_vector<std::int32_t>());
    ASSERT_EQ(a[k].images.shape(), b[k].images.shape());
    EXPECT_EQ(
        std::memcmp(a[k].images.data<float>(), b[k].images.data<float>(), a[k].images.nbytes()), 0)
        << "batch " << k << " images differ";
  }
}

TEST(BatchLoader, EveryImageOncePerEpochWithShapesAndLastPartialBatch) {
  const ImageDataset ds = numbered(10);
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 3;
  BatchLoader loader(ds, o);
  EXPECT_EQ(loader.batch_count(), 3);
  const std::vector<Batch> batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].images.shape(), (Shape{4, 3, 4, 4}));
  EXPECT_EQ(batches[2].images.shape(), (Shape{2, 3, 4, 4}));
  EXPECT_EQ(batches[2].labels.shape(), (Shape{2}));
  EXPECT_EQ(batches[2].labels.dtype(), DType::Int32);
  std::vector<int> seen(10);
  for (const Batch& b : batches) {
    const float* img = b.images.data<float>();
    const auto labels = b.labels.to_vector<std::int32_t>();
    for (std::size_t k = 0; k < b.indices.size(); ++k) {
      const std::int64_t i = b.indices[k];
      ++seen[static_cast<std::size_t>(i)];
      EXPECT_EQ(labels[k], i % 3);
      const float* slot = img + k * 3 * 16;
      EXPECT_FLOAT_EQ(slot[0], i - kVggMeanBgr[0]);        // B plane
      EXPECT_FLOAT_EQ(slot[16 + 5], i - kVggMeanBgr[1]);   // G plane
      EXPECT_FLOAT_EQ(slot[32 + 15], i - kVggMeanBgr[2]);  // R plane
    }
  }
  for (int count : seen) EXPECT_EQ(count, 1);
  EXPECT_FALSE(loader.next().has_value());  // still at the end
}

TEST(BatchLoader, DropLastAndNoShuffle) {
  const ImageDataset ds = numbered(10);
  LoaderOptions o;
  o.batch_size = 4;
  o.drop_last = true;
  o.shuffle = false;
  BatchLoader loader(ds, o);
  EXPECT_EQ(loader.batch_count(), 2);
  const auto batches = whole_epoch(loader, 5);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(order_of(batches), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(BatchLoader, SameSeedSameBatchesOtherEpochOtherOrder) {
  const ImageDataset ds = textured(37, 6);
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 11;
  o.augment.rotation_deg = 15;
  o.augment.zoom = 0.1;
  o.augment.horizontal_flip = true;
  BatchLoader a(ds, o), b(ds, o);
  const auto a0 = whole_epoch(a, 0), a1 = whole_epoch(a, 1);
  expect_same_batches(a0, whole_epoch(b, 0));
  EXPECT_NE(order_of(a0), order_of(a1));
  // Resuming: a fresh loader started at epoch 1 gives what the first reached after epoch 0.
  BatchLoader resumed(ds, o);
  expect_same_batches(a1, whole_epoch(resumed, 1));
  // Replaying an epoch gives it again.
  expect_same_batches(a0, whole_epoch(a, 0));
  // Another seed, another order.
  o.seed = 12;
  BatchLoader c(ds, o);
  EXPECT_NE(order_of(a0), order_of(whole_epoch(c, 0)));
}

TEST(BatchLoader, PrefetchingChangesNothing) {
  const ImageDataset ds = textured(21, 8);
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 2;
  o.augment.width_shift = 0.2;
  o.augment.height_shift = 0.2;
  o.augment.rotation_deg = 30;
  o.augment.horizontal_flip = true;
  BatchLoader fast(ds, o), slow(ds, o);
  o.prefetch = false;
  BatchLoader inline_loader(ds, o);
  const auto reference = whole_epoch(inline_loader, 4);
  expect_same_batches(reference, whole_epoch(fast, 4));
  expect_same_batches(reference, whole_epoch(slow, 4, std::chrono::milliseconds(20)));
}

TEST(BatchLoader, AugmentedBatchIsAffineThenPreprocess) {
  const ImageDataset ds = textured(6, 8);
  LoaderOptions o;
  o.batch_size = 6;
  o.seed = 8;
  o.augment.rotation_deg = 40;
  o.augment.zoom = 0.3;
  o.augment.horizontal_flip = true;
  BatchLoader loader(ds, o);
  const auto batches = whole_epoch(loader, 2);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  std::vector<float> hwc(8 * 8 * 3), chw(8 * 8 * 3);
  int changed = 0;
  for (std::size_t k = 0; k < b.indices.size(); ++k) {
    const std::int64_t i = b.indices[k];
    const AffineParams p = loader.affine_params(2, i);
    changed += !p.is_identity();
    apply_affine(ds.image(i), 8, 8, 3, p, hwc.data());
    vgg_preprocess(hwc.data(), 8, 8, chw.data());
    EXPECT_EQ(std::memcmp(chw.data(), b.images.data<float>() + k * chw.size(), chw.size() * 4), 0)
        << "image " << i;
  }
  EXPECT_EQ(changed, 6);
  // Another epoch draws other parameters for the same image.
  EXPECT_NE(loader.affine_params(2, 0).theta, loader.affine_params(3, 0).theta);
}

TEST(BatchLoader, WorkerExceptionReachesTheConsumer) {
  const ImageDataset ds = numbered(12);
  std::atomic<int> made{0};
  LoaderOptions o;
  o.batch_size = 4;
  o.on_batch = [&made](Batch&) {
    if (made++ == 1) throw Error("worker failed on purpose");
  };
  BatchLoader loader(ds, o);
  loader.start_epoch(0);
  EXPECT_TRUE(loader.next().has_value());
  try {
    loader.next();
    ADD_FAILURE() << "expected the worker's exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "worker failed on purpose");
  }
  // The failed batch is made again by the next call, then the epoch goes on.
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_FALSE(loader.next().has_value());
}

TEST(BatchLoader, DestroyedWithABatchInFlight) {
  const ImageDataset ds = textured(64, 16);
  std::atomic<bool> entered{false}, finished{false};
  LoaderOptions o;
  o.batch_size = 64;
  o.augment.rotation_deg = 10;
  o.on_batch = [&](Batch&) {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    finished = true;
  };
  {
    BatchLoader loader(ds, o);
    loader.start_epoch(0);
    while (!entered) std::this_thread::yield();  // the worker is inside on_batch
  }  // the destructor must wait for it: the batch refers to the loader's data
  EXPECT_TRUE(finished) << "the loader was destroyed while its worker was still making a batch";
}

TEST(BatchLoader, MisuseIsAnError) {
  const ImageDataset ds = numbered(4);
  BatchLoader loader(ds, LoaderOptions{});
  EXPECT_THROW(loader.next(), Error);  // before start_epoch
  EXPECT_THROW(loader.start_epoch(-1), Error);
  LoaderOptions zero;
  zero.batch_size = 0;
  EXPECT_THROW(BatchLoader(ds, zero), Error);
  ImageDataset gray = ds;
  gray.c = 1;
  gray.images.resize(static_cast<std::size_t>(gray.n * gray.image_size()));
  EXPECT_THROW(BatchLoader(gray, LoaderOptions{}), Error);
  ImageDataset bad_label = ds;
  bad_label.labels[2] = 3;  // only 3 classes
  EXPECT_THROW(BatchLoader(bad_label, LoaderOptions{}), Error);
}

// The loader keeps a reference to its dataset: a temporary would dangle, so it does not compile.
static_assert(!std::is_constructible_v<BatchLoader, ImageDataset&&, LoaderOptions>);

TEST(BatchLoader, EmptyDatasetHasNoBatches) {
  const ImageDataset ds;
  BatchLoader loader(ds, LoaderOptions{});
  EXPECT_EQ(loader.batch_count(), 0);
  loader.start_epoch(0);
  EXPECT_FALSE(loader.next().has_value());
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// Data parallelism: the ranks' slices of each global batch are that batch, split in order.
TEST(BatchLoaderShards, RanksSplitEachGlobalBatchInOrder) {
  const ImageDataset ds = numbered(23);
  LoaderOptions o;
  o.batch_size = 6;  // 3 full global batches and one of 5: kept with 3 ranks (5 >= 3)
  o.seed = 9;
  BatchLoader whole(ds, o);
  std::vector<std::unique_ptr<BatchLoader>> ranks;
  for (int r = 0; r < 3; ++r) {
    LoaderOptions ro = o;
    ro.rank = r;
    ro.world = 3;
    ranks.push_back(std::make_unique<BatchLoader>(ds, ro));
  }
  for (const std::int64_t epoch : {0, 2}) {
    const std::vector<Batch> expected = whole_epoch(whole, epoch);
    ASSERT_EQ(expected.size(), 4u);
    std::vector<std::vector<Batch>> got;
    for (auto& r : ranks) got.push_back(whole_epoch(*r, epoch));
    for (std::size_t b = 0; b < expected.size(); ++b) {
      std::vector<std::int64_t> joined;
      for (int r = 0; r < 3; ++r) {
        ASSERT_EQ(got[r].size(), expected.size());
        const std::vector<std::int64_t>& part = got[r][b].indices;
        EXPECT_GE(part.size(), b < 3 ? 2u : 1u);  // 6 = 2+2+2; 5 = 1+2+2
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, expected[b].indices) << "epoch " << epoch << " batch " << b;
    }
  }
}

TEST(BatchLoaderShards, ALastBatchSmallerThanTheWorldIsDroppedOnEveryRank) {
  const ImageDataset ds = numbered(14);  // 3 global batches of 4, then 2 images for 4 ranks
  LoaderOptions o;
  o.batch_size = 4;
  o.world = 4;
  for (int r = 0; r < 4; ++r) {
    o.rank = r;
    BatchLoader loader(ds, o);
    EXPECT_EQ(loader.batch_count(), 3);
    EXPECT_EQ(whole_epoch(loader, 0).size(), 3u);
  }
}

TEST(BatchLoaderShards, RefusesABatchThatDoesNotSplitEvenly) {
  const ImageDataset ds = numbered(8);
  LoaderOptions o;
  o.batch_size = 6;
  o.world = 4;
  try {
    BatchLoader loader(ds, o);
    FAIL() << "accepted a global batch of 6 over 4 ranks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("global batch of 6 images does not split evenly over 4"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kiln
