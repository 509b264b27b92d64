#include "apps/cifar10/dataset_source.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "core/random.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/resize.h"

namespace kiln::app {

namespace fs = std::filesystem;

namespace {

bool has_file(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  return fs::exists(dir / name, ec) || fs::exists(dir / (name + ".gz"), ec);
}

// Resizes every image to size x size (no-op when they already are).
void resize_all(ImageDataset& ds, std::int64_t size) {
  if (ds.n == 0 || (ds.h == size && ds.w == size)) return;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(ds.n * size * size * ds.c));
  for (std::int64_t i = 0; i < ds.n; ++i) {
    resize_bilinear(ds.image(i), static_cast<int>(ds.h), static_cast<int>(ds.w),
                    static_cast<int>(ds.c), out.data() + i * size * size * ds.c,
                    static_cast<int>(size), static_cast<int>(size));
  }
  ds.images = std::move(out);
  ds.h = ds.w = size;
}

// Keeps the first `limit` images (all when limit is 0).
void keep_first(ImageDataset& ds, std::int64_t limit) {
  if (limit <= 0 || limit >= ds.n) return;
  ds.n = limit;
  ds.images.resize(static_cast<std::size_t>(limit * ds.image_size()));
  ds.labels.resize(static_cast<std::size_t>(limit));
}

}  // namespace

std::string cifar_missing_hint(const std::string& dir) {
  return dir +
         " not found: get CIFAR-10 with scripts/fetch-data (downloads "
         "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, MD5 "
         "c32a1d4ab5d03f1284b67883e8d87530, into data/); offline, train on --data fashion-mnist, "
         "or on CIFAR-10 from any source as binary batch files or an image folder (README, "
         "'Data without internet')";
}

void check_data_source_exists(const std::string& spec) {
  std::error_code ec;
  if (spec == "fashion-mnist") {
    KILN_CHECK(fs::is_directory(kFashionMnistDir, ec), "fashion-mnist: ", kFashionMnistDir,
               " not found: install Debian's dataset-fashion-mnist (apt-get install "
               "dataset-fashion-mnist; scripts/setup does)");
  } else if (!fs::exists(spec, ec)) {
    KILN_FAIL(cifar_missing_hint(spec));
  }
}

DatasetSplits read_data_source(const std::string& spec, std::int64_t image_size,
                               std::string* description) {
  std::error_code ec;
  DatasetSplits splits;
  std::string what;
  check_data_source_exists(spec);
  if (spec == "fashion-mnist") {
    splits = read_fashion_mnist(kFashionMnistDir);
    what = std::string("Fashion-MNIST (") + kFashionMnistDir + ")";
  } else {
    const fs::path dir(spec);
    KILN_CHECK(fs::is_directory(dir, ec), spec,
               " is not a directory: --data takes a CIFAR-10 directory, an image folder, a "
               "directory of IDX files or fashion-mnist");
    if (has_file(dir, "data_batch_1.bin") || has_file(dir, "data_batch.bin")) {
      splits = read_cifar10_directory(spec);
      what = "CIFAR-10 binary (" + spec + ")";
    } else if (has_file(dir, "train-images-idx3-ubyte")) {
      splits = read_fashion_mnist(spec);
      what = "IDX files (" + spec + ")";
    } else {
      splits.train = read_image_folder(spec, static_cast<int>(image_size));
      what = "image folder (" + spec + ")";
    }
  }
  resize_all(splits.train, image_size);
  resize_all(splits.test, image_size);
  if (description != nullptr) *description = what;
  return splits;
}

TrainValidation carve_validation(const ImageDataset& train, double fraction,
                                 std::uint64_t run_seed) {
  // Its own stream of the run's seed: the split must not move when other streams change.
  return split_validation(train, fraction, Generator(run_seed).derive(kSplitStream).seed());
}

DataParts load_data_parts(const DataRequest& r) {
  DataParts parts;
  DatasetSplits splits = read_data_source(r.spec, r.image_size, &parts.description);
  KILN_CHECK(!splits.train.empty(), r.spec, ": no training images");
  parts.class_names = splits.train.class_names;
  if (splits.test.empty() || r.val_split_given) {
    KILN_CHECK(r.val_split > 0, r.spec, ": --val-split 0 leaves no validation set",
               splits.test.empty() ? " (the data has no test split)" : "");
    TrainValidation tv = carve_validation(splits.train, r.val_split, r.seed);
    parts.train = std::move(tv.train);
    parts.val = std::move(tv.validation);
    parts.test = std::move(splits.test);
    keep_first(parts.test, r.limit_test);
  } else {
    parts.train = std::move(splits.train);
    parts.val = std::move(splits.test);
    parts.val_is_test = true;
  }
  keep_first(parts.train, r.limit_train);
  keep_first(parts.val, r.limit_val);
  return parts;
}

}  // namespace kiln::app
