// A dataset of random pixels, for tests that compare the loader's two batch forms (the CPU's
// float input and the GPU's uint8 pixels) on images where every transform shows.
#pragma once

#include <cstdint>
#include <string>

#include "core/random.h"
#include "data/dataset.h"

namespace kiln::test {

inline ImageDataset random_images(int n, int h, int w, int classes, std::uint64_t seed) {
  ImageDataset ds;
  ds.n = n;
  ds.h = h;
  ds.w = w;
  ds.c = 3;
  for (int k = 0; k < classes; ++k) ds.class_names.emplace_back(1, static_cast<char>('a' + k));
  Generator gen(seed);
  ds.images.resize(static_cast<std::size_t>(n) * h * w * 3);
  for (auto& v : ds.images) v = static_cast<std::uint8_t>(gen.next_u64() >> 56);
  for (int i = 0; i < n; ++i) ds.labels.push_back(i % classes);
  return ds;
}

}  // namespace kiln::test
