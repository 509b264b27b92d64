#include "data/dataset.h"

#include <cstring>

#include "base/error.h"

namespace kiln {

ImageDataset ImageDataset::subset(const std::vector<std::int64_t>& indices) const {
  ImageDataset out;
  out.n = static_cast<std::int64_t>(indices.size());
  out.h = h;
  out.w = w;
  out.c = c;
  out.class_names = class_names;
  out.images.resize(static_cast<std::size_t>(out.n * image_size()));
  out.labels.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::int64_t i = indices[k];
    KILN_CHECK(i >= 0 && i < n, "ImageDataset::subset: index ", i, " out of range for ", n,
               " images");
    if (image_size() > 0)
      std::memcpy(out.image(static_cast<std::int64_t>(k)), image(i),
                  static_cast<std::size_t>(image_size()));
    out.labels[k] = labels[static_cast<std::size_t>(i)];
  }
  return out;
}

void ImageDataset::check_consistent(const std::string& what) const {
  KILN_CHECK(n >= 0 && h >= 0 && w >= 0 && c >= 0, what, ": negative dataset extents (n ", n,
             ", h ", h, ", w ", w, ", c ", c, ")");
  KILN_CHECK(static_cast<std::int64_t>(images.size()) == n * image_size(), what, ": ",
             images.size(), " pixel bytes for ", n, " images of ", h, "x", w, "x", c);
  KILN_CHECK(static_cast<std::int64_t>(labels.size()) == n, what, ": ", labels.size(),
             " labels for ", n, " images");
  if (class_names.empty()) return;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    KILN_CHECK(labels[i] >= 0 && labels[i] < num_classes(), what, ": image ", i, " has label ",
               labels[i], ", expected 0..", num_classes() - 1);
  }
}

void append_images(ImageDataset& a, const ImageDataset& b) {
  if (a.n == 0) {
    a.h = b.h;
    a.w = b.w;
    a.c = b.c;
  }
  KILN_CHECK(a.h == b.h && a.w == b.w && a.c == b.c, "append_images: images of ", b.h, "x", b.w,
             "x", b.c, " cannot join images of ", a.h, "x", a.w, "x", a.c);
  a.images.insert(a.images.end(), b.images.begin(), b.images.end());
  a.labels.insert(a.labels.end(), b.labels.begin(), b.labels.end());
  a.n += b.n;
}

}  // namespace kiln
