// CUDA implementation of kernels/device_memory.h: plain cudaMalloc/cudaFree and synchronous
// copies. The caching allocator in core/ sits on top of these; nothing here caches.
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/device_memory.h"

namespace kiln::kernels::cuda {
namespace {

struct DeviceProbe {
  int count = 0;
  std::string reason;  // empty when a device answered
};

// Asked once per process: the first CUDA call initialises the driver, which is slow, and the
// answer does not change while the process runs. Never throws: a machine without a driver or a
// GPU is an ordinary state (CI, laptops), reported through unavailable_reason().
const DeviceProbe& probe() {
  static const DeviceProbe result = [] {
    DeviceProbe p;
    const cudaError_t status = cudaGetDeviceCount(&p.count);
    if (status != cudaSuccess) {
      p.count = 0;
      p.reason = cudaGetErrorString(status);
      cudaGetLastError();  // clear it, so the next launch check does not report this
    } else if (p.count == 0) {
      p.reason = "no CUDA-capable device is detected";
    }
    return p;
  }();
  return result;
}

}  // namespace

bool available() { return probe().count > 0; }

int device_count() { return probe().count; }

const char* unavailable_reason() { return probe().reason.c_str(); }

void* allocate(std::size_t bytes) {
  // NOTE: a zero-byte allocation is a null pointer that free() accepts; it touches no device.
  if (bytes == 0) return nullptr;
  void* ptr = nullptr;
  const cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status != cudaSuccess) {
    cudaGetLastError();  // out-of-memory is not sticky; leave no error behind for the caller
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    std::string memory;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      memory =
          ::kiln::detail::concat(" (device has ", free_bytes, " of ", total_bytes, " bytes free)");
    } else {
      cudaGetLastError();
    }
    KILN_FAIL("CUDA allocation of ", bytes, " bytes failed: ", cudaGetErrorString(status), memory);
  }
  return ptr;
}

void free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  const cudaError_t status = cudaFree(ptr);
  // At process exit the runtime may already be unloading; the memory goes with it.
  if (status == cudaErrorCudartUnloading) return;
  CUDA_REPORT(status);
}

void copy_host_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

void memset_zero(void* dst, std::size_t bytes) {
  if (bytes == 0) return;
  // cudaMemset is asynchronous for device memory; synchronise so it matches the copies above.
  CUDA_CHECK(cudaMemset(dst, 0, bytes));
  CUDA_CHECK(cudaStreamSynchronize(nullptr));
}

}  // namespace kiln::kernels::cuda
