#include "data/preprocess.h"

#include <cstddef>

#include "kernels/affine_sample.h"

namespace kiln {

namespace {

// The kernels' copy of the means (usable in device code) must be these.
static_assert(kernels::vgg_mean_bgr(0) == kVggMeanBgr[0] &&
                  kernels::vgg_mean_bgr(1) == kVggMeanBgr[1] &&
                  kernels::vgg_mean_bgr(2) == kVggMeanBgr[2],
              "kernels/affine_sample.h and data/preprocess.h disagree on the VGG means");

template <typename T>
void preprocess(const T* src, int h, int w, float* dst) {
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  for (int bgr = 0; bgr < 3; ++bgr) {
    const int rgb = 2 - bgr;  // B is RGB's channel 2, R its channel 0
    float* out = dst + bgr * plane;
    for (std::size_t p = 0; p < plane; ++p) {
      out[p] = kernels::vgg_preprocess_value(static_cast<float>(src[p * 3 + rgb]), bgr);
    }
  }
}

}  // namespace

void vgg_preprocess(const float* src, int h, int w, float* dst) { preprocess(src, h, w, dst); }

void vgg_preprocess(const std::uint8_t* src, int h, int w, float* dst) {
  preprocess(src, h, w, dst);
}

}  // namespace kiln
