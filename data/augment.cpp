#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

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
  // Double precision: at 90 degrees cos(theta) is 6e-17, not 0, and the sampling positions must
  // still land within rounding of whole pixels so the result rounds back to exact pixel values.
  const double cos_t = std::cos(params.theta), sin_t = std::sin(params.theta);
  const double ox = w / 2.0 - 0.5, oy = h / 2.0 - 0.5;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double zx = params.zx * (x - ox) + params.tx;
      const double zy = params.zy * (y - oy) + params.ty;
      // fill_mode "nearest": clamping the coordinate repeats the edge pixel outward, and bilinear
      // sampling between two copies of the edge gives the edge value, as scipy's mode does.
      const double sx = std::clamp(ox + cos_t * zx - sin_t * zy, 0.0, w - 1.0);
      const double sy = std::clamp(oy + sin_t * zx + cos_t * zy, 0.0, h - 1.0);
      const int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);  // >= 0: floor
      const int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
      const double fx = sx - x0, fy = sy - y0;
      const std::uint8_t* p00 = src + (static_cast<std::size_t>(y0) * w + x0) * c;
      const std::uint8_t* p01 = src + (static_cast<std::size_t>(y0) * w + x1) * c;
      const std::uint8_t* p10 = src + (static_cast<std::size_t>(y1) * w + x0) * c;
      const std::uint8_t* p11 = src + (static_cast<std::size_t>(y1) * w + x1) * c;
      const int out_x = params.flip ? w - 1 - x : x;
      float* out = dst + (static_cast<std::size_t>(y) * w + out_x) * c;
      for (int ch = 0; ch < c; ++ch) {
        const double top = p00[ch] + fx * (p01[ch] - p00[ch]);
        const double bottom = p10[ch] + fx * (p11[ch] - p10[ch]);
        out[ch] = static_cast<float>(top + fy * (bottom - top));
      }
    }
  }
}

}  // namespace kiln
