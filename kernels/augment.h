// The augmentation + VGG preprocessing kernel: a uint8 NHWC batch in, the network's float NCHW
// input out, in one pass. It computes exactly what data/augment.h's apply_affine followed by
// data/preprocess.h's vgg_preprocess compute on the CPU, from parameters the CPU drew, so both
// devices use the same transforms for a given seed.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// One image's transform (see data/augment.h for the coordinate convention).
struct AffineTransform {
  double theta, tx, ty, zx, zy;  // rotation (radians), shift (pixels), zoom
  bool flip;                     // mirror left-right after the affine map
};

namespace cpu {
// images (n, h, w, 3) uint8 RGB -> out (n, 3, h, w) float BGR minus the VGG means.
void augment_preprocess(std::int64_t n, int h, int w, const std::uint8_t* images,
                        const AffineTransform* transforms, float* out);
}  // namespace cpu

namespace cuda {
// Device pointers for images and out; transforms is a HOST array (copied to the device).
void augment_preprocess(std::int64_t n, int h, int w, const std::uint8_t* images,
                        const AffineTransform* transforms, float* out);
}  // namespace cuda

}  // namespace kiln::kernels
