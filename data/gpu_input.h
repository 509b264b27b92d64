// GpuInput: the GPU's input step, as DESIGN describes it. A BatchForm::Pixels batch (uint8 NHWC
// plus each image's drawn transform, data/loader.h) goes up through pinned memory on a copy
// stream, double-buffered (kernels/batch_upload.h), and the fused kernel augments and
// preprocesses it on the device (kernels/augment.h): 3 bytes per pixel cross PCIe instead of 12,
// and the CPU does no per-pixel work. Same transforms as the CPU path (the loader draws them), so
// the network sees the CPU path's batch within the kernel's documented tolerance.
//
//   gpu.stage(batch_k1);               // upload starts; returns after the host copy
//   Tensor x = gpu.images(batch_k);    // batch k's input, queued behind its upload
//
// Batches go through images() in the order they were staged, at most two staged ahead.
#pragma once

#include <cstdint>
#include <deque>

#include "core/tensor.h"
#include "data/loader.h"
#include "kernels/batch_upload.h"

namespace kiln {

class GpuInput {
 public:
  // Staging room for batches of up to max_batch images of (h, w, 3). Throws without CUDA.
  GpuInput(std::int64_t max_batch, int h, int w);

  // Copies the batch's pixels into pinned memory and queues their upload.
  void stage(const Batch& batch);
  // The oldest staged batch's network input, (B, 3, H, W) float32 on the GPU; `batch` must be it.
  Tensor images(const Batch& batch);

 private:
  void check_batch(const Batch& batch, const char* what) const;

  std::int64_t max_batch_;
  int h_, w_;
  kernels::cuda::BatchUploader uploader_;
  struct Staged {
    kernels::cuda::BatchUploader::Ticket ticket;
    std::size_t images;        // its batch's image count and first dataset index, to check
    std::int64_t first_index;  // that images() gets the batch that was staged
  };
  std::deque<Staged> staged_;
};

}  // namespace kiln
