// ImageDataset: a whole dataset in memory as uint8 NHWC, the one form every reader returns and
// the loader consumes. Pixels stay uint8 until a batch is made: CIFAR-10's training split is
// 150 MB as uint8, 600 MB as float.
// Invariant (check_consistent): images.size() == n*h*w*c, labels.size() == n, and every label is
// in [0, class_names.size()) when class names are given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct ImageDataset {
  std::vector<std::uint8_t> images;  // (n, h, w, c) row-major, channels RGB when c == 3
  std::vector<std::int32_t> labels;  // (n) class indices
  std::int64_t n = 0, h = 0, w = 0, c = 0;
  std::vector<std::string> class_names;  // (num_classes) label i is class_names[i]

  bool empty() const { return n == 0; }
  std::int64_t image_size() const { return h * w * c; }  // bytes per image
  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names.size()); }
  const std::uint8_t* image(std::int64_t i) const { return images.data() + i * image_size(); }
  std::uint8_t* image(std::int64_t i) { return images.data() + i * image_size(); }

  // The images at `indices` (any order, repeats allowed), with the same class names.
  ImageDataset subset(const std::vector<std::int64_t>& indices) const;
  // Throws kiln::Error, prefixed by `what` (e.g. a file name), when the invariant above fails.
  void check_consistent(const std::string& what) const;
};

// A dataset's two official splits. `test` is empty (n == 0) when the source has none.
struct DatasetSplits {
  ImageDataset train;
  ImageDataset test;
};

// Appends b's images to a (same h, w, c; a takes b's geometry when a is empty).
void append_images(ImageDataset& a, const ImageDataset& b);

}  // namespace kiln
