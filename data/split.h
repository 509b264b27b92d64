// Holding out a validation set when a dataset has no test split (the JPEG CIFAR-10 tree, an
// image folder). Unlike Keras' validation_split, which takes the LAST fraction unshuffled (all of
// one class for a sorted folder), the held-out images are a seeded random choice.
#pragma once

#include <cstdint>

#include "data/dataset.h"

namespace kiln {

struct TrainValidation {
  ImageDataset train;
  ImageDataset validation;
};

// round(fraction * n) images go to validation, the rest to train; each part keeps the dataset's
// order. The choice is a pure function of (n, fraction, seed). fraction in [0, 1); when it is
// above 0 both parts must be non-empty.
TrainValidation split_validation(const ImageDataset& data, double fraction, std::uint64_t seed);

}  // namespace kiln
