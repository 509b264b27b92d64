// Resolving --data into the datasets train and evaluate use:
//   "fashion-mnist"                   Debian's /usr/share/datasets/fashion-mnist (IDX, gzipped)
//   DIR with data_batch_*.bin         CIFAR-10's binary version (test_batch.bin when present)
//   DIR with train-images-idx3-ubyte  MNIST-style IDX files (.gz or plain)
//   any other DIR                     an image folder, DIR/<class>/<image>
// Every dataset comes out as (n, size, size, 3) uint8; images of another side are resized
// bilinearly (Fashion-MNIST is first padded to 32x32, see data/idx.h).
//
// Validation: carved off train with a seeded shuffle (data/split.h) when the source has no test
// split or when --val-split is given; otherwise the test split serves as validation, as in the
// Keras recipe (validation_data=(x_test, y_test)). The limits keep the first N images of a part
// after the split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/split.h"

namespace kiln::app {

// Streams derived from --seed, one per purpose (DESIGN.md, Randomness). The head's dropout
// stream is drawn from the init stream (layers/vgg16.h).
constexpr std::uint64_t kInitStream = 1, kLoaderStream = 2, kSplitStream = 3;

struct DataRequest {
  std::string spec;  // --data
  std::int64_t image_size = 32;
  double val_split = 0.1;
  bool val_split_given = false;
  std::uint64_t seed = 0;
  std::int64_t limit_train = 0, limit_val = 0, limit_test = 0;  // 0: all
};

struct DataParts {
  ImageDataset train, val, test;  // test empty when the source has none or it serves as val
  bool val_is_test = false;
  std::vector<std::string> class_names;
  std::string description;  // "CIFAR-10 binary (data/cifar-10-batches-bin)", ...
};

// Throws the error read_data_source would for a source that does not exist (cheap: no reading).
void check_data_source_exists(const std::string& spec);

// Reads the source's official splits; `description` says what was read.
DatasetSplits read_data_source(const std::string& spec, std::int64_t image_size,
                               std::string* description);

// The source split into train / validation / test as described above.
DataParts load_data_parts(const DataRequest& request);

// The validation split a run with this --seed carves off train (train and evaluate agree).
TrainValidation carve_validation(const ImageDataset& train, double fraction,
                                 std::uint64_t run_seed);

// Where CIFAR-10 and the weights come from: a one-line hint for error messages.
std::string cifar_missing_hint(const std::string& dir);

}  // namespace kiln::app
