// Augmentation + VGG preprocessing on the CPU in one pass: the twin of the CUDA kernel, and the
// same arithmetic as data/'s apply_affine followed by vgg_preprocess (all three call
// kernels/affine_sample.h), without the intermediate HWC float image.
#include "kernels/augment.h"

#include <cstdint>

#include "base/error.h"
#include "kernels/affine_sample.h"

namespace kiln::kernels::cpu {

void augment_preprocess(std::int64_t n, int h, int w, const std::uint8_t* images,
                        const AffineTransform* transforms, float* out) {
  KILN_CHECK(n >= 0 && h > 0 && w > 0, "augment_preprocess: bad batch shape (", n, ", ", h, ", ", w,
             ", 3)");
  const std::int64_t plane = static_cast<std::int64_t>(h) * w;
  // One (image, row) per iteration: rows are independent and write disjoint outputs.
#pragma omp parallel for schedule(static) if (n * plane >= (1 << 14))
  for (std::int64_t row = 0; row < n * h; ++row) {
    const std::int64_t img = row / h;
    const int y = static_cast<int>(row % h);
    const AffineTransform& t = transforms[img];
    const AffineSampling a = make_affine_sampling(t.theta, t.tx, t.ty, t.zx, t.zy, t.flip);
    const std::uint8_t* src = images + img * plane * 3;  // (h, w, 3) RGB
    float* dst = out + img * 3 * plane;                  // (3, h, w) BGR
    for (int x = 0; x < w; ++x) {
      // Output column x shows what the affine map computed at column flipped_column(x).
      const BilinearTap tap = affine_source(a, h, w, flipped_column(t.flip, w, x), y);
      for (int bgr = 0; bgr < 3; ++bgr) {
        const float v = bilinear_sample(src, w, 3, tap, 2 - bgr);  // B is RGB's channel 2
        dst[bgr * plane + static_cast<std::int64_t>(y) * w + x] = vgg_preprocess_value(v, bgr);
      }
    }
  }
}

}  // namespace kiln::kernels::cpu
