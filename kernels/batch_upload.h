// BatchUploader: the GPU's double-buffered input upload (kernels/upload_ring.h on CUDA streams).
// A batch is copied into pinned host memory and uploaded on a copy stream of its own, so batch
// k+1 crosses PCIe while batch k's step computes on Kiln's stream; the compute stream waits for
// the upload (an event) before anything reads it. No CUDA includes here; without the CUDA
// backend the constructor throws "built without CUDA".
//
//   Ticket t = uploader.stage(pixels, bytes);   // host copy + queued upload
//   const void* dev = uploader.acquire(t);      // Kiln's stream waits for the upload
//   ... queue kernels reading dev on Kiln's stream ...
//   uploader.release(t);                        // the slot may be refilled after that work
//
// At most two batches are staged and not released. Not thread-safe: one thread drives it.
#pragma once

#include <cstddef>
#include <memory>

namespace kiln::kernels::cuda {

class BatchUploader {
 public:
  struct Ticket {
    int slot = -1;
    std::size_t bytes = 0;
  };

  // Two pinned host buffers and two device buffers of `capacity` bytes each.
  explicit BatchUploader(std::size_t capacity);
  ~BatchUploader();  // waits for both streams; never throws
  BatchUploader(const BatchUploader&) = delete;
  BatchUploader& operator=(const BatchUploader&) = delete;

  std::size_t capacity() const;
  Ticket stage(const void* host, std::size_t bytes);
  const void* acquire(const Ticket& ticket);
  void release(const Ticket& ticket);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::kernels::cuda
