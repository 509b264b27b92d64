#include "data/loader.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "base/error.h"
#include "data/preprocess.h"
#include "data/shuffle.h"

namespace kiln {

namespace {
// Generator streams under the loader's seed, one per purpose.
constexpr std::uint64_t kShuffleStream = 1;
constexpr std::uint64_t kAugmentStream = 2;
}  // namespace

BatchLoader::BatchLoader(const ImageDataset& data, LoaderOptions options)
    : data_(data), options_(std::move(options)) {
  data_.check_consistent("BatchLoader");
  KILN_CHECK(options_.batch_size > 0, "BatchLoader: batch_size must be positive, got ",
             options_.batch_size);
  KILN_CHECK(data_.n == 0 || data_.c == 3, "BatchLoader: images have ", data_.c,
             " channels; VGG preprocessing needs 3 (RGB)");
  options_.augment.check();
  KILN_CHECK(options_.world >= 1 && options_.rank >= 0 && options_.rank < options_.world,
             "BatchLoader: rank ", options_.rank, " of a world of ", options_.world);
  KILN_CHECK(options_.batch_size % options_.world == 0, "BatchLoader: the global batch of ",
             options_.batch_size, " images does not split evenly over ", options_.world, " ranks");
}

BatchLoader::~BatchLoader() {
  if (pending_.valid()) pending_.wait();  // an exception it holds is dropped with it
}

std::int64_t BatchLoader::batch_count() const {
  const std::int64_t bs = options_.batch_size, full = data_.n / bs, rest = data_.n % bs;
  if (options_.drop_last) return full;
  return full + (rest > 0 && rest >= options_.world ? 1 : 0);
}

void BatchLoader::start_epoch(std::int64_t epoch) {
  KILN_CHECK(epoch >= 0, "BatchLoader: epoch must be >= 0, got ", epoch);
  if (pending_.valid()) pending_.wait();  // the worker reads order_ and epoch_
  pending_ = {};
  epoch_ = epoch;
  cursor_ = 0;
  if (options_.shuffle) {
    Generator gen = Generator(options_.seed).derive(kShuffleStream).derive(epoch_);
    order_ = random_permutation(data_.n, gen);
  } else {
    order_.resize(static_cast<std::size_t>(data_.n));
    std::iota(order_.begin(), order_.end(), std::int64_t{0});
  }
  if (options_.prefetch && batch_count() > 0) launch(0);
}

std::optional<Batch> BatchLoader::next() {
  KILN_CHECK(epoch_ >= 0, "BatchLoader: call start_epoch before next");
  if (cursor_ >= batch_count()) return std::nullopt;
  // get() leaves pending_ invalid even when it throws, so a failed batch is remade next call.
  Batch batch = pending_.valid() ? pending_.get() : make_batch(cursor_);
  ++cursor_;
  if (options_.prefetch && cursor_ < batch_count()) launch(cursor_);
  return batch;
}

void BatchLoader::launch(std::int64_t b) {
  pending_ = std::async(std::launch::async, [this, b] { return make_batch(b); });
}

AffineParams BatchLoader::affine_params(std::int64_t epoch, std::int64_t index) const {
  if (!options_.augment.enabled()) return {};
  Generator gen = Generator(options_.seed).derive(kAugmentStream).derive(epoch).derive(index);
  return draw_affine(options_.augment, static_cast<int>(data_.h), static_cast<int>(data_.w), gen);
}

Batch BatchLoader::make_batch(std::int64_t b) const {
  const int h = static_cast<int>(data_.h), w = static_cast<int>(data_.w);
  // This rank's slice of global batch b.
  const std::int64_t global_first = b * options_.batch_size;
  const std::int64_t global_count = std::min(options_.batch_size, data_.n - global_first);
  const std::int64_t first = global_first + global_count * options_.rank / options_.world;
  const std::int64_t count =
      global_first + global_count * (options_.rank + 1) / options_.world - first;
  Batch batch;
  batch.height = h;
  batch.width = w;
  batch.labels = Tensor::empty({count}, DType::Int32);
  batch.indices.assign(order_.begin() + first, order_.begin() + first + count);
  std::int32_t* labels = batch.labels.data<std::int32_t>();
  for (std::int64_t k = 0; k < count; ++k)
    labels[k] = data_.labels[static_cast<std::size_t>(batch.indices[static_cast<std::size_t>(k)])];
  if (options_.form == BatchForm::Pixels) {
    gather_pixels(batch);
  } else {
    make_network_input(batch);
  }
  if (options_.on_batch) options_.on_batch(batch);
  return batch;
}

void BatchLoader::gather_pixels(Batch& batch) const {
  const std::size_t image = static_cast<std::size_t>(data_.h * data_.w * 3);
  batch.pixels.resize(batch.indices.size() * image);
  batch.transforms.reserve(batch.indices.size());
  for (std::size_t k = 0; k < batch.indices.size(); ++k) {
    const std::int64_t i = batch.indices[k];
    std::copy(data_.image(i), data_.image(i) + image, batch.pixels.begin() + k * image);
    batch.transforms.push_back(affine_params(epoch_, i));
  }
}

void BatchLoader::make_network_input(Batch& batch) const {
  const int h = batch.height, w = batch.width;
  const auto count = static_cast<std::int64_t>(batch.indices.size());
  batch.images = Tensor::empty({count, 3, h, w});
  float* images = batch.images.data<float>();  // (count, 3, h, w)
  const bool augment = options_.augment.enabled();
  std::vector<float> scratch(augment ? static_cast<std::size_t>(h) * w * 3 : 0);  // (h, w, 3)
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t i = batch.indices[static_cast<std::size_t>(k)];
    float* slot = images + k * 3 * h * w;
    if (augment) {
      apply_affine(data_.image(i), h, w, 3, affine_params(epoch_, i), scratch.data());
      vgg_preprocess(scratch.data(), h, w, slot);
    } else {
      vgg_preprocess(data_.image(i), h, w, slot);
    }
  }
}

}  // namespace kiln
