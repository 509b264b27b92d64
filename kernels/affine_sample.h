// Per-pixel math of the augmentation (Keras-style affine map, bilinear sampling, fill "nearest",
// horizontal flip) and of VGG preprocessing, written once for the host and the device.
// data/augment.cpp (apply_affine), data/preprocess.cpp (vgg_preprocess), kernels/cpu/augment.cpp
// and kernels/cuda/augment.cu all call these functions, so the CPU and the GPU compute the same
// expressions in the same order. See data/augment.h for the coordinate convention.
//
// NOTE: every multiply-add goes through mul_rn/add_rn. On the device they are __dmul_rn and
// __dadd_rn, which nvcc never fuses into an FMA; a fused a * b + c rounds once instead of twice,
// so a sampling position could move by an ulp and, next to a pixel boundary, the truncation to
// x0 could pick the neighbouring pixel. On the host they are plain operators: Kiln's x86-64
// builds have no FMA instructions to contract into (a -mfma build would still agree to ~1e-13).
// cos and sin are taken once on the host (make_affine_sampling), because the device's libm may
// differ from glibc's in the last bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "base/host_device.h"

namespace kiln::kernels {

KILN_HOST_DEVICE inline double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

KILN_HOST_DEVICE inline double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

KILN_HOST_DEVICE inline double sub_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

// One image's transform, ready for per-pixel sampling. Plain data: copied to the device as is.
struct AffineSampling {
  double cos_t, sin_t;  // of the rotation angle
  double tx, ty;        // shift in pixels along x (columns) and y (rows)
  double zx, zy;        // zoom along x and y
  int flip;             // 1: mirror left-right after the affine map
};

// Host only (std::cos and std::sin): the device takes the table this builds.
inline AffineSampling make_affine_sampling(double theta, double tx, double ty, double zx, double zy,
                                           bool flip) {
  return AffineSampling{std::cos(theta), std::sin(theta), tx, ty, zx, zy, flip ? 1 : 0};
}

// Where an output pixel samples the input: the four neighbours and the bilinear weights.
struct BilinearTap {
  int x0, y0, x1, y1;  // x0 <= x1 <= w - 1, y0 <= y1 <= h - 1
  double fx, fy;       // in [0, 1): weights of x1 and y1
};

// Same as std::clamp(v, lo, hi), which the device has no version of.
KILN_HOST_DEVICE inline double clamp_coordinate(double v, double lo, double hi) {
  return v < lo ? lo : (hi < v ? hi : v);
}

// The input position that (unflipped) output pixel (x, y) samples, as data/augment.h defines it:
// in = o + R(theta) * (Z * (p - o) + t), clamped to the image (fill_mode "nearest").
KILN_HOST_DEVICE inline BilinearTap affine_source(const AffineSampling& a, int h, int w, int x,
                                                  int y) {
  const double ox = w / 2.0 - 0.5, oy = h / 2.0 - 0.5;  // exact: halves of small integers
  const double zx = add_rn(mul_rn(a.zx, sub_rn(x, ox)), a.tx);
  const double zy = add_rn(mul_rn(a.zy, sub_rn(y, oy)), a.ty);
  // NOTE: clamping the coordinate repeats the edge pixel outward, and bilinear sampling between
  // two copies of the edge gives the edge value, as scipy's "nearest" mode does.
  const double sx =
      clamp_coordinate(sub_rn(add_rn(ox, mul_rn(a.cos_t, zx)), mul_rn(a.sin_t, zy)), 0.0, w - 1.0);
  const double sy =
      clamp_coordinate(add_rn(add_rn(oy, mul_rn(a.sin_t, zx)), mul_rn(a.cos_t, zy)), 0.0, h - 1.0);
  BilinearTap t;
  t.x0 = static_cast<int>(sx);  // sx >= 0, so truncation is floor
  t.y0 = static_cast<int>(sy);
  t.x1 = t.x0 + 1 < w ? t.x0 + 1 : w - 1;
  t.y1 = t.y0 + 1 < h ? t.y0 + 1 : h - 1;
  t.fx = sub_rn(sx, t.x0);
  t.fy = sub_rn(sy, t.y0);
  return t;
}

// Channel ch of the bilinear sample of src (h, w, c) at tap t, rounded to float. Identity taps
// (fx = fy = 0) return the pixel exactly.
KILN_HOST_DEVICE inline float bilinear_sample(const std::uint8_t* src, int w, int c,
                                              const BilinearTap& t, int ch) {
  const int p00 = src[(static_cast<std::int64_t>(t.y0) * w + t.x0) * c + ch];
  const int p01 = src[(static_cast<std::int64_t>(t.y0) * w + t.x1) * c + ch];
  const int p10 = src[(static_cast<std::int64_t>(t.y1) * w + t.x0) * c + ch];
  const int p11 = src[(static_cast<std::int64_t>(t.y1) * w + t.x1) * c + ch];
  const double top = add_rn(p00, mul_rn(t.fx, p01 - p00));
  const double bottom = add_rn(p10, mul_rn(t.fx, p11 - p10));
  return static_cast<float>(add_rn(top, mul_rn(t.fy, sub_rn(bottom, top))));
}

// The column output pixel x of the affine map lands in: flip mirrors it (an involution, so it
// also maps a flipped output column back to the column the affine map computed it at).
KILN_HOST_DEVICE inline int flipped_column(bool flip, int w, int x) { return flip ? w - 1 - x : x; }

// VGG16 "caffe" preprocessing of one value: channel bgr (0 = B, 1 = G, 2 = R) of a pixel in
// [0, 255], minus the ImageNet mean of that channel. data/preprocess.h's kVggMeanBgr holds the
// same numbers (a static_assert in data/preprocess.cpp keeps them equal); a function rather than
// an array because device code cannot read a host constexpr array.
KILN_HOST_DEVICE constexpr float vgg_mean_bgr(int bgr) {
  return bgr == 0 ? 103.939f : (bgr == 1 ? 116.779f : 123.68f);
}

KILN_HOST_DEVICE inline float vgg_preprocess_value(float rgb_value, int bgr) {
  return rgb_value - vgg_mean_bgr(bgr);  // one IEEE subtraction: nothing to fuse
}

}  // namespace kiln::kernels
