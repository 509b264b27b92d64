#include "data/preprocess.h"

#include <cstddef>

namespace kiln {

namespace {

template <typename T>
void preprocess(const T* src, int h, int w, float* dst) {
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  for (int bgr = 0; bgr < 3; ++bgr) {
    const int rgb = 2 - bgr;  // B is RGB's channel 2, R its channel 0
    float* out = dst + bgr * plane;
    for (std::size_t p = 0; p < plane; ++p) {
      out[p] = static_cast<float>(src[p * 3 + rgb]) - kVggMeanBgr[bgr];
    }
  }
}

}  // namespace

void vgg_preprocess(const float* src, int h, int w, float* dst) { preprocess(src, h, w, dst); }

void vgg_preprocess(const std::uint8_t* src, int h, int w, float* dst) {
  preprocess(src, h, w, dst);
}

}  // namespace kiln
