// Random affine augmentation with Keras' ImageDataGenerator semantics (KERAS-FORMATS.md section
// 3): rotation, shift, zoom, then horizontal flip, bilinear sampling, fill_mode "nearest".
// Split in two so a CUDA kernel can reproduce it: draw_affine makes the random choices on the
// host, apply_affine is a pure function of (image, params) with no state and no randomness.
//
// Coordinates: x runs along columns (width, to the right), y along rows (height, downwards);
// the centre is o = (w/2 - 0.5, h/2 - 0.5). Each OUTPUT pixel p samples the INPUT at
//     in = o + R(theta) * (Z * (p - o) + t),   R = [cos -sin; sin cos], Z = diag(zx, zy),
// so zoom > 1 shows more of the image (zooms out) and a shift t moves content by -t.
//
// NOTE the Keras shift-axis quirk: current Keras builds its matrix in (x, y) order but fills the
// first coordinate with the height_shift_range draw (scaled by the height) and the second with
// width_shift_range (scaled by the width), so height_shift moves images horizontally, and its
// centre uses h/2 for x. Kiln does what the names say: width_shift moves along x by a fraction of
// the width, height_shift along y by a fraction of the height, and the centre uses w for x. For
// square images with equal ranges (CIFAR-10's usual setting) the two agree in distribution.
#pragma once

#include <cstdint>

#include "core/random.h"

namespace kiln {

struct AugmentOptions {
  double rotation_deg = 0;       // theta ~ U(-rotation_deg, rotation_deg) degrees
  double width_shift = 0;        // tx ~ U(-r, r), times the width when r < 1, else pixels
  double height_shift = 0;       // ty ~ U(-r, r), times the height when r < 1, else pixels
  double zoom = 0;               // zx, zy ~ U(1 - zoom, 1 + zoom), independently; zoom in [0, 1)
  bool horizontal_flip = false;  // mirror left-right with probability 0.5

  bool enabled() const {
    return rotation_deg != 0 || width_shift != 0 || height_shift != 0 || zoom != 0 ||
           horizontal_flip;
  }
  void check() const;  // throws kiln::Error on a negative range or zoom outside [0, 1)
};

struct AffineParams {
  double theta = 0;       // rotation, radians
  double tx = 0, ty = 0;  // shift in pixels along x (columns) and y (rows)
  double zx = 1, zy = 1;  // zoom along x and y
  bool flip = false;      // mirror left-right after the affine transform

  bool is_identity() const {
    return theta == 0 && tx == 0 && ty == 0 && zx == 1 && zy == 1 && !flip;
  }
};

// Draws one image's parameters. Every quantity has a fixed draw slot, taken even when its option
// is off, so turning one option on leaves the others' values unchanged: gen.uniform() number
// 0 -> theta, 1 -> ty (height_shift), 2 -> tx (width_shift), 3 -> zx, 4 -> zy, 5 -> flip
// (u < 0.5). This is Keras' order (theta, height shift, width shift, zoom x, zoom y, flip).
AffineParams draw_affine(const AugmentOptions& options, int h, int w, Generator& gen);

// src (h, w, c) uint8 -> dst (h, w, c) float in [0, 255]; src and dst must not overlap.
// Identity params copy exactly; a 90-degree rotation of a square image is an exact permutation.
void apply_affine(const std::uint8_t* src, int h, int w, int c, const AffineParams& params,
                  float* dst);

}  // namespace kiln
