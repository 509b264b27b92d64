#include "data/augment.h"

#include <cmath>

#include "base/error.h"
#include "kernels/affine_sample.h"

namespace kiln {

void AugmentOptions::check() const {
  KILN_CHECK(rotation_deg >= 0 && width_shift >= 0 && height_shift >= 0, "augment: ranges must ",
             "be non-negative (rotation ", rotation_deg, ", width_shift ", width_shift,
             ", height_shift ", height_shift, ")");
  KILN_CHECK(zoom >= 0 && zoom < 1, "augment: zoom must be in [0, 1), got ", zoom);
}

namespace {

// U(-range, range), scaled by `size` when range < 1 (a fraction of the image), else pixels.
double draw_shift(double range, int size, double u) {
  if (range == 0) return 0;
  const double shift = -range + 2 * range * u;
  return range < 1 ? shift * size : shift;
}

}  // namespace

AffineParams draw_affine(const AugmentOptions& options, int h, int w, Generator& gen) {
  double u[6];
  for (double& v : u) v = gen.uniform();
  AffineParams p;
  const double rot = options.rotation_deg;
  p.theta = rot == 0 ? 0 : (-rot + 2 * rot * u[0]) * M_PI / 180.0;
  p.ty = draw_shift(options.height_shift, h, u[1]);
  p.tx = draw_shift(options.width_shift, w, u[2]);
  if (options.zoom != 0) {
    p.zx = 1 - options.zoom + 2 * options.zoom * u[3];
    p.zy = 1 - options.zoom + 2 * options.zoom * u[4];
  }
  p.flip = options.horizontal_flip && u[5] < 0.5;
  return p;
}

void apply_affine(const std::uint8_t* src, int h, int w, int c, const AffineParams& params,
                  float* dst) {
  // The per-pixel math lives in kernels/affine_sample.h, shared with the CUDA augmentation kernel
  // so both devices sample the same positions. Double precision: at 90 degrees cos(theta) is
  // 6e-17, not 0, and the sampling positions must still land within rounding of whole pixels so
  // the result rounds back to exact pixel values.
  const kernels::AffineSampling a = kernels::make_affine_sampling(
      params.theta, params.tx, params.ty, params.zx, params.zy, params.flip);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const kernels::BilinearTap tap = kernels::affine_source(a, h, w, x, y);
      const int out_x = kernels::flipped_column(params.flip, w, x);
      float* out = dst + (static_cast<std::size_t>(y) * w + out_x) * c;
      for (int ch = 0; ch < c; ++ch) out[ch] = kernels::bilinear_sample(src, w, c, tap, ch);
    }
  }
}

}  // namespace kiln
