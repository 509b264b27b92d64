// CUDA implementation of kernels/batch_upload.h: UploadRing's backend on a copy stream of its own
// and Kiln's compute stream (runtime.h), with timing-free events.
//
// NOTE the device buffers come from the caching allocator although the copy stream, not Kiln's
// stream, writes them (runtime.h's invariant): that is safe because the ring keeps them for its
// whole life and finish() waits for both streams before they go back to the cache.
#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/batch_upload.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device_memory.h"
#include "kernels/upload_ring.h"

namespace kiln::kernels::cuda {
namespace {

class CudaStreams {
 public:
  using Event = cudaEvent_t;

  CudaStreams() : compute_(stream()) {
    CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
  }
  ~CudaStreams() { CUDA_REPORT(cudaStreamDestroy(copy_)); }
  CudaStreams(const CudaStreams&) = delete;
  CudaStreams& operator=(const CudaStreams&) = delete;

  Event make_event() {
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }
  void destroy_event(Event e) noexcept { CUDA_REPORT(cudaEventDestroy(e)); }
  void* allocate_host(std::size_t bytes) { return allocate_pinned(bytes); }
  void* allocate_device(std::size_t bytes) { return allocate(bytes); }
  void free_host(void* p) noexcept { free_pinned(p); }
  void free_device(void* p) noexcept { free(p); }

  void host_wait(Event e) { CUDA_CHECK(cudaEventSynchronize(e)); }
  void copy_wait(Event e) { CUDA_CHECK(cudaStreamWaitEvent(copy_, e, 0)); }
  void compute_wait(Event e) { CUDA_CHECK(cudaStreamWaitEvent(compute_, e, 0)); }
  void record_copy(Event e) { CUDA_CHECK(cudaEventRecord(e, copy_)); }
  void record_compute(Event e) { CUDA_CHECK(cudaEventRecord(e, compute_)); }
  void queue_copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes > 0) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, copy_));
  }
  void finish() noexcept {
    CUDA_REPORT(cudaStreamSynchronize(copy_));
    CUDA_REPORT(cudaStreamSynchronize(compute_));
  }

 private:
  cudaStream_t compute_;
  cudaStream_t copy_ = nullptr;
};

}  // namespace

struct BatchUploader::Impl {
  explicit Impl(std::size_t capacity) : ring(streams, capacity) {}
  CudaStreams streams;  // declared first: outlives the ring, whose destructor uses it
  UploadRing<CudaStreams> ring;
};

BatchUploader::BatchUploader(std::size_t capacity) : impl_(std::make_unique<Impl>(capacity)) {}

BatchUploader::~BatchUploader() = default;

std::size_t BatchUploader::capacity() const { return impl_->ring.capacity(); }

BatchUploader::Ticket BatchUploader::stage(const void* host, std::size_t bytes) {
  const auto t = impl_->ring.stage(host, bytes);
  return {t.slot, t.bytes};
}

const void* BatchUploader::acquire(const Ticket& ticket) {
  return impl_->ring.acquire({ticket.slot, ticket.bytes});
}

void BatchUploader::release(const Ticket& ticket) {
  impl_->ring.release({ticket.slot, ticket.bytes});
}

}  // namespace kiln::kernels::cuda
