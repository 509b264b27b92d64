// BatchLoader: turns an in-memory ImageDataset into training batches: per epoch a seeded
// shuffle, per batch gather + augment (augment.h) + VGG preprocessing (preprocess.h), while a
// background thread prepares the next batch as the current one trains. For the GPU it hands out
// the gathered uint8 pixels and each image's drawn transform instead (BatchForm::Pixels), and the
// device augments and preprocesses them in one kernel (data/gpu_input.h), from the same draws.
//
// Reproducibility: everything random is a pure function of (seed, epoch, dataset index), drawn
// with counter-based Generators: epoch e's order from derive(shuffle).derive(e), image i's
// augmentation in epoch e from derive(augment).derive(e).derive(i). So epoch k is the same
// whether training starts there (resume: start_epoch(k)) or arrives there, and no result
// depends on threads, timing or prefetching.
//
// Threading: at most one batch is in flight, made by a std::async task that only READS the
// dataset, the options and the epoch's order; those change only in start_epoch, after the task
// has finished. The finished batch moves to the consumer through the future, which also carries
// a worker's exception to next(). The dataset must outlive the loader and not change under it.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "data/augment.h"
#include "data/dataset.h"

namespace kiln {

// What a batch carries besides labels and indices.
enum class BatchForm {
  Network,  // images: the network's input, augmented and preprocessed on the CPU
  Pixels,   // pixels + transforms: the stored images and their augmentation, for the GPU kernel
};

struct Batch {
  Tensor images;                      // (B, 3, H, W) float32 (BatchForm::Network; else undefined)
  Tensor labels;                      // (B) int32
  std::vector<std::int64_t> indices;  // (B) the images' indices in the dataset
  // BatchForm::Pixels only: the images as stored and what the CPU path would apply to each.
  std::vector<std::uint8_t> pixels;      // (B, H, W, 3) uint8 RGB
  std::vector<AffineParams> transforms;  // (B); identity when augmentation is off
  int height = 0, width = 0;             // H, W (both forms)
};

struct LoaderOptions {
  std::int64_t batch_size = 32;
  bool shuffle = true;     // false: dataset order every epoch (evaluation)
  bool drop_last = false;  // true: skip a last batch smaller than batch_size
  AugmentOptions augment;  // off by default, as evaluation wants
  std::uint64_t seed = 0;
  bool prefetch = true;  // false: next() makes the batch itself (same results; for debugging)
  BatchForm form = BatchForm::Network;
  // Data parallelism: this process is `rank` of `world`. batch_size stays the GLOBAL batch and
  // must be divisible by world; every rank shuffles the same global order and takes its slice of
  // each global batch (contiguous, sizes differing by at most one in a short last batch), so each
  // image is in exactly one rank's batch per epoch, as PyTorch's DistributedSampler does. A last
  // global batch with fewer images than ranks is dropped on every rank (with world 1 it is kept).
  int rank = 0, world = 1;
  // Runs on each finished batch, on the thread that made it (the worker when prefetching), before
  // next() hands it out: extra preprocessing, tests. Whatever it throws comes out of next().
  std::function<void(Batch&)> on_batch;
};

class BatchLoader {
 public:
  // Keeps a reference to data, which needs 3 channels (VGG) and consistent extents and labels.
  BatchLoader(const ImageDataset& data, LoaderOptions options);
  BatchLoader(ImageDataset&& data, LoaderOptions options) = delete;  // would dangle
  ~BatchLoader();  // waits for the batch in flight; never throws
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  std::int64_t batch_count() const;              // batches per epoch (the same on every rank)
  std::int64_t epoch() const { return epoch_; }  // -1 before the first start_epoch

  // Shuffles for `epoch` (>= 0) and starts preparing its first batch. Any epoch, any order.
  void start_epoch(std::int64_t epoch);
  // The epoch's next batch, nullopt after the last. Rethrows an exception from the worker; the
  // failed batch is retried by the following call.
  std::optional<Batch> next();

  // Image `index`'s augmentation parameters in `epoch` (identity when augmentation is off): what
  // next() applies, exposed for a GPU augmentation kernel and for tests.
  AffineParams affine_params(std::int64_t epoch, std::int64_t index) const;

 private:
  Batch make_batch(std::int64_t b) const;       // batch b of the current epoch; writes no member
  void gather_pixels(Batch& batch) const;       // BatchForm::Pixels: pixels and transforms
  void make_network_input(Batch& batch) const;  // BatchForm::Network: images
  void launch(std::int64_t b);

  const ImageDataset& data_;
  LoaderOptions options_;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> order_;  // (n) this epoch's dataset indices in batch order
  std::int64_t cursor_ = 0;          // the batch next() hands out next
  std::future<Batch> pending_;       // batch cursor_ being made, when valid
};

}  // namespace kiln
