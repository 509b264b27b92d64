// IDX files (MNIST, Fashion-MNIST; KERAS-FORMATS.md section 6): magic 00 00 <type> <ndim>, ndim
// big-endian uint32 extents, then the data in C order. Only type 0x08 (uint8) is read, which is
// what image and label files use. Files may be gzipped: detected by gzip's magic bytes 1f 8b, not
// by the name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace kiln {

struct IdxArray {
  std::vector<std::int64_t> dims;  // (ndim) outermost first
  std::vector<std::uint8_t> data;  // (dims...) row-major
};

// Errors name the file: cannot open, corrupt gzip, bad magic, unsupported type, truncated (fewer
// bytes than the dims promise) or trailing bytes.
IdxArray read_idx(const std::string& path);

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
const std::vector<std::string>& fashion_mnist_class_names();

// Fashion-MNIST as VGG16 can take it: each 28x28 gray image is padded with zeros to 32x32
// (2 pixels each side) and replicated to 3 channels. Why: VGG16 needs 3 input channels and at
// least 32x32 (five 2x2 poolings), and padding, unlike resizing, keeps every original pixel
// unresampled; the zero border matches the images' own black background.
// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte, each as .gz or plain (the .gz first), from
// dir (Debian's dataset-fashion-mnist package installs the default one).
DatasetSplits read_fashion_mnist(const std::string& dir = kFashionMnistDir);

// The conversion above for one images/labels pair (images (n, rows, cols) with rows, cols <= 32;
// labels (n), each < 10); `what` names the files in errors.
ImageDataset mnist_to_vgg_dataset(const IdxArray& images, const IdxArray& labels,
                                  const std::string& what);

}  // namespace kiln
