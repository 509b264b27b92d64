// CIFAR-10's binary version (KERAS-FORMATS.md section 5): files of 3073-byte records, each one
// label byte (0-9) then the 32x32 red, green and blue planes, row-major. Readers return NHWC
// (planes interleaved), as every ImageDataset is.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace kiln {

constexpr int kCifarImageSide = 32;
constexpr int kCifarRecordBytes = 1 + 3 * kCifarImageSide * kCifarImageSide;  // 3073

// airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck.
const std::vector<std::string>& cifar10_default_class_names();

// One batch file (any number of records, at least one). Class names are the defaults.
// Errors name the file: cannot open, empty, size not a whole number of records, label > 9.
ImageDataset read_cifar10_batch(const std::string& path);

// batches.meta.txt: one class name per line. Tolerant: '\r', surrounding spaces and blank lines
// (the official file ends in several) are dropped. Exactly ten names must remain.
std::vector<std::string> read_cifar10_class_names(const std::string& path);

// A cifar-10-batches-bin directory: train = data_batch_1..5.bin, those that exist, in order (at
// least one; a lone data_batch.bin, as jpeg-tree-to-cifar-bin.py --batches 1 writes, also
// counts); test = test_batch.bin, empty when absent. Class names from batches.meta.txt when
// present, else the defaults.
DatasetSplits read_cifar10_directory(const std::string& dir);

}  // namespace kiln
