// Augmentation + VGG preprocessing on the GPU, one pass over a uint8 NHWC batch: the twin of
// kernels/cpu/augment.cpp. The kernel, its per-image table and its launch are in
// augment_kernels.cuh (run on the CPU by the emulated tests); this file checks arguments and
// uploads the table into the device's workspace arena on Kiln's stream before the launch.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "base/error.h"
#include "kernels/augment.h"
#include "kernels/cuda/augment_kernels.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"

namespace kiln::kernels::cuda {

void augment_preprocess(std::int64_t n, int h, int w, const std::uint8_t* images,
                        const AffineTransform* transforms, float* out) {
  KILN_CHECK(n >= 0 && h > 0 && w > 0, "augment_preprocess: bad batch shape (", n, ", ", h, ", ", w,
             ", 3)");
  if (n == 0) return;
  KILN_CHECK(transforms != nullptr, "augment_preprocess: no transforms for ", n, " images");
  const std::vector<AffineSampling> table = detail::make_sampling_table(n, transforms);
  DeviceLease lease;
  const cudaStream_t s = lease.stream();
  const std::size_t bytes = sizeof(AffineSampling) * table.size();
  auto* sampling = static_cast<AffineSampling*>(lease.workspace(bytes));
  // Queued after any earlier work that used the workspace. NOTE: from pageable memory the driver
  // stages the source before returning, so `table` may be destroyed when this function returns.
  CUDA_CHECK(cudaMemcpyAsync(sampling, table.data(), bytes, cudaMemcpyHostToDevice, s));
  detail::queue_augment_preprocess(detail::StreamLaunch{s}, n, h, w, images, sampling, out);
}

}  // namespace kiln::kernels::cuda
