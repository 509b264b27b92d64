// Augmentation + VGG preprocessing on the GPU, one pass over a uint8 NHWC batch: the twin of
// kernels/cpu/augment.cpp. Both call kernels/affine_sample.h for every per-pixel step, with cos
// and sin of each image's angle taken once on the host, and with no FMA contraction on the device
// (see that header), so the sampled positions, and so the outputs, match the CPU's.
//
// Launch: one thread per output pixel (image, y, x), grid-stride over n*h*w with x fastest, so the
// three float writes of a warp (one per BGR plane) are coalesced. The per-image transforms are
// uploaded into the device's workspace arena on Kiln's stream before the launch.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/affine_sample.h"
#include "kernels/augment.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"

namespace kiln::kernels::cuda {
namespace {

__global__ void augment_preprocess_kernel(std::int64_t n, int h, int w, const std::uint8_t* images,
                                          const AffineSampling* transforms, float* out) {
  const std::int64_t plane = static_cast<std::int64_t>(h) * w;
  const std::int64_t total = n * plane;
  for (std::int64_t idx = detail::grid_start(); idx < total; idx += detail::grid_stride()) {
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

}  // namespace

void augment_preprocess(std::int64_t n, int h, int w, const std::uint8_t* images,
                        const AffineTransform* transforms, float* out) {
  KILN_CHECK(n >= 0 && h > 0 && w > 0, "augment_preprocess: bad batch shape (", n, ", ", h, ", ", w,
             ", 3)");
  if (n == 0) return;
  KILN_CHECK(transforms != nullptr, "augment_preprocess: no transforms for ", n, " images");
  std::vector<AffineSampling> table(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const AffineTransform& t = transforms[i];
    table[i] = make_affine_sampling(t.theta, t.tx, t.ty, t.zx, t.zy, t.flip);
  }
  DeviceLease lease;
  const cudaStream_t s = lease.stream();
  const std::size_t bytes = sizeof(AffineSampling) * table.size();
  auto* sampling = static_cast<AffineSampling*>(lease.workspace(bytes));
  // Queued after any earlier work that used the workspace. NOTE: from pageable memory the driver
  // stages the source before returning, so `table` may be destroyed when this function returns.
  CUDA_CHECK(cudaMemcpyAsync(sampling, table.data(), bytes, cudaMemcpyHostToDevice, s));
  const std::int64_t total = n * h * w;
  augment_preprocess_kernel<<<detail::blocks_for(total), detail::kThreads, 0, s>>>(n, h, w, images,
                                                                                   sampling, out);
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
