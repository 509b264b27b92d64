#include "data/gpu_input.h"

#include <vector>

#include "base/error.h"
#include "kernels/augment.h"
#include "kernels/cuda_build.h"

namespace kiln {

GpuInput::GpuInput(std::int64_t max_batch, int h, int w)
    : max_batch_(max_batch),
      h_(h),
      w_(w),
      uploader_(static_cast<std::size_t>(max_batch) * static_cast<std::size_t>(h) *
                static_cast<std::size_t>(w) * 3) {}

void GpuInput::check_batch(const Batch& batch, const char* what) const {
  const std::size_t n = batch.indices.size();
  KILN_CHECK(n > 0, "GpuInput::", what, ": an empty batch");
  KILN_CHECK(batch.height == h_ && batch.width == w_ && n <= static_cast<std::size_t>(max_batch_),
             "GpuInput::", what, ": a batch of ", n, " images of ", batch.height, "x", batch.width,
             " does not fit staging for ", max_batch_, " of ", h_, "x", w_);
  KILN_CHECK(batch.pixels.size() == n * static_cast<std::size_t>(h_ * w_ * 3) &&
                 batch.transforms.size() == n,
             "GpuInput::", what, ": the batch has no pixels and transforms for its ", n,
             " images (make it with BatchForm::Pixels)");
}

void GpuInput::stage(const Batch& batch) {
  check_batch(batch, "stage");
  // NOTE: every field named: a missing first_index was zero-initialised, and images() then
  // refused any batch whose first image was not image 0 (never run: found by -Wextra).
  staged_.push_back({uploader_.stage(batch.pixels.data(), batch.pixels.size()),
                     batch.indices.size(), batch.indices.front()});
}

Tensor GpuInput::images(const Batch& batch) {
  check_batch(batch, "images");
  KILN_CHECK(!staged_.empty() && staged_.front().images == batch.indices.size() &&
                 staged_.front().first_index == batch.indices.front(),
             "GpuInput::images: the batch was not the next one staged");
  const Staged s = staged_.front();
  staged_.pop_front();
  const auto n = static_cast<std::int64_t>(s.images);
  std::vector<kernels::AffineTransform> transforms;
  transforms.reserve(s.images);
  for (const AffineParams& p : batch.transforms)
    transforms.push_back({p.theta, p.tx, p.ty, p.zx, p.zy, p.flip});
  Tensor out = Tensor::empty({n, 3, h_, w_}, DType::Float32, Device::CUDA);
  try {
    const auto* pixels = static_cast<const std::uint8_t*>(uploader_.acquire(s.ticket));
    // A CPU-only build never gets here (its uploader cannot be made) and compiles no call.
    if constexpr (kernels::cuda::kCudaBuilt) {
      kernels::cuda::augment_preprocess(n, h_, w_, pixels, transforms.data(),
                                        out.device_data<float>());
    }
  } catch (...) {
    uploader_.release(s.ticket);  // the slot is free again, and the first error is the one seen
    throw;
  }
  uploader_.release(s.ticket);  // the kernel, queued above, is the only reader
  return out;
}

}  // namespace kiln
