// Augmentation + VGG preprocessing in one pass over a uint8 NHWC batch (device code,
// device_code.h): the twin of kernels/cpu/augment.cpp, with the per-image table it reads and its
// launch (launch.h), used by kernels/cuda/augment.cu and
// tests/kernels/pool_dropout_augment_emulated_test.cpp. Both devices call kernels/affine_sample.h
// for every per-pixel step, with cos and sin of each image's angle taken once on the host
// (make_sampling_table), and with no FMA contraction on the device (see that header), so the
// sampled positions, and so the outputs, match the CPU's.
//
// Launch: one thread per output pixel (image, y, x), grid-stride over n*h*w with x fastest, so the
// three float writes of a warp (one per BGR plane) are coalesced.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/affine_sample.h"
#include "kernels/augment.h"
#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

__global__ void augment_preprocess_kernel(std::int64_t n, int h, int w, const std::uint8_t* images,
                                          const AffineSampling* transforms, float* out) {
  const std::int64_t plane = static_cast<std::int64_t>(h) * w;
  const std::int64_t total = n * plane;
  for (std::int64_t idx = grid_start(); idx < total; idx += grid_stride()) {
    const std::int64_t img = idx / plane, pixel = idx % plane;
    const int y = static_cast<int>(pixel / w), x = static_cast<int>(pixel % w);
    const AffineSampling a = transforms[img];
    // Output column x shows what the affine map computed at column flipped_column(x).
    const BilinearTap tap = affine_source(a, h, w, flipped_column(a.flip != 0, w, x), y);
    const std::uint8_t* src = images + img * plane * 3;  // (h, w, 3) RGB
    float* dst = out + img * 3 * plane + pixel;          // (3, h, w) BGR, at (., y, x)
    for (int bgr = 0; bgr < 3; ++bgr)
      dst[bgr * plane] = vgg_preprocess_value(bilinear_sample(src, w, 3, tap, 2 - bgr), bgr);
  }
}

// The kernel's per-image table, on the host (cos and sin by the host's libm, as the CPU takes
// them).
inline std::vector<AffineSampling> make_sampling_table(std::int64_t n,
                                                       const AffineTransform* transforms) {
  std::vector<AffineSampling> table(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const AffineTransform& t = transforms[i];
    table[i] = make_affine_sampling(t.theta, t.tx, t.ty, t.zx, t.zy, t.flip);
  }
  return table;
}

// out (n, 3, h, w) from images (n, h, w, 3) and the table (n entries, device memory), for n > 0.
template <class Launch>
void queue_augment_preprocess(const Launch& launch, std::int64_t n, int h, int w,
                              const std::uint8_t* images, const AffineSampling* sampling,
                              float* out) {
  launch(grid_stride_shape(launch, n * h * w), augment_preprocess_kernel, n, h, w, images, sampling,
         out);
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
