// CUDA implementation of kernels/device_memory.h: a caching allocator over cudaMalloc, pinned host
// memory, and copies on Kiln's stream.
//
// The cache. Requests are rounded up to a size class: a multiple of 512 B below 1 MiB, a multiple
// of 2 MiB from 1 MiB up (large activations vary little between steps, and coarse classes let a
// slightly smaller request reuse a block). A freed block goes onto its device's free list and is
// handed to the next request of the same class, or of a class at most 1/8 smaller (best fit), so a
// steady-state training step calls neither cudaMalloc nor cudaFree. Blocks are never split or
// merged: simple, and a network's requests repeat exactly from step to step.
//
// Why reuse without waiting for the GPU is safe: every user of device memory queues its work on
// Kiln's one stream per device (kernels/cuda/runtime.h), so work queued by the next owner of a
// block runs after the work of the previous owner.
//
// Out of memory: the cache is returned to the driver (cudaFree of every cached block) and the
// request retried once; if it fails again the error says what was asked for and what the device
// has. KILN_CUDA_NO_CACHE=1 bypasses the cache (cudaMalloc/cudaFree per call), so
// compute-sanitizer sees every allocation's true bounds.
//
// Lifetime: the allocator's state is leaked on purpose. Tensors held in static objects may free
// their memory after other statics are destroyed; the driver reclaims everything at exit.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
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
      int driver = 0;
      // NOTE: with no NVIDIA driver installed at all the runtime reports "driver version is
      // insufficient", which reads like an upgrade advice; say what is really missing.
      const bool no_driver = status == cudaErrorInsufficientDriver &&
                             (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0);
      p.reason =
          no_driver ? std::string("no NVIDIA driver on this machine") : cudaGetErrorString(status);
      cudaGetLastError();  // clear it, so the next launch check does not report this
    } else if (p.count == 0) {
      p.reason = "no CUDA-capable device is detected";
    }
    return p;
  }();
  return result;
}

constexpr std::size_t kSmallGranule = 512;                     // class step below kLargeThreshold
constexpr std::size_t kLargeThreshold = std::size_t{1} << 20;  // 1 MiB
constexpr std::size_t kLargeGranule = std::size_t{2} << 20;    // 2 MiB

std::size_t round_up(std::size_t bytes, std::size_t granule) {
  return (bytes + granule - 1) / granule * granule;
}

std::size_t size_class(std::size_t bytes) {
  return bytes < kLargeThreshold ? round_up(bytes, kSmallGranule) : round_up(bytes, kLargeGranule);
}

std::string memory_info() {
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return "device memory unknown";
  }
  return ::kiln::detail::concat("device has ", free_bytes, " free of ", total_bytes);
}

class CachingAllocator {
 public:
  CachingAllocator() {
    const char* env = std::getenv("KILN_CUDA_NO_CACHE");
    bypass_ = env != nullptr && std::strcmp(env, "1") == 0;
  }

  void* allocate(std::size_t bytes) {
    KILN_CHECK(available(), "CUDA allocation of ", bytes,
               " bytes: no CUDA device: ", unavailable_reason());
    // Also keeps the rounding to a size class from overflowing.
    KILN_CHECK(bytes <= std::numeric_limits<std::size_t>::max() / 2, "CUDA allocation of ", bytes,
               " bytes: larger than any device's memory");
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    std::lock_guard<std::mutex> lock(mutex_);
    const std::size_t rounded = bypass_ ? bytes : size_class(bytes);
    if (!bypass_) {
      if (void* ptr = take_cached(device, rounded)) return ptr;
    }
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, rounded);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // out-of-memory is not sticky; leave no error behind
      const std::size_t released = release_cache_locked();
      status = cudaMalloc(&ptr, rounded);
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        KILN_FAIL("CUDA out of memory: asked for ", bytes, " bytes (size class ", rounded, "), ",
                  released, " cached (released before retrying), ", allocated_bytes_,
                  " in use by Kiln, ", memory_info());
      }
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      KILN_FAIL("CUDA allocation of ", bytes, " bytes failed: ", cudaGetErrorString(status));
    }
    blocks_[ptr] = Block{rounded, device};
    allocated_bytes_ += rounded;
    return ptr;
  }

  void free(void* ptr) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = blocks_.find(ptr);
    if (it == blocks_.end()) {
      std::fprintf(stderr, "kiln: cuda::free of %p, which Kiln's allocator did not hand out\n",
                   ptr);
      return;
    }
    const Block block = it->second;
    blocks_.erase(it);
    allocated_bytes_ -= block.bytes;
    if (bypass_) {
      release(ptr);
      return;
    }
    try {
      free_lists_[block.device].emplace(block.bytes, ptr);
      cached_bytes_ += block.bytes;
    } catch (...) {  // out of host memory for the list node: give the block back instead
      release(ptr);
    }
  }

  std::size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

  std::size_t allocated_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return allocated_bytes_;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cache_locked();
  }

 private:
  struct Block {
    std::size_t bytes;  // the size class, what cudaMalloc was asked for
    int device;
  };

  // Best fit among cached blocks of `device` whose class is `rounded` up to 1/8 larger.
  void* take_cached(int device, std::size_t rounded) {
    auto& list = free_lists_[device];
    const auto it = list.lower_bound(rounded);
    if (it == list.end() || it->first > rounded + rounded / 8) return nullptr;
    void* ptr = it->second;
    const std::size_t bytes = it->first;
    list.erase(it);
    cached_bytes_ -= bytes;
    blocks_[ptr] = Block{bytes, device};
    allocated_bytes_ += bytes;
    return ptr;
  }

  // Returns every cached block to the driver; the count of bytes released.
  std::size_t release_cache_locked() {
    std::size_t released = 0;
    int current = 0;
    const bool know_current = cudaGetDevice(&current) == cudaSuccess;
    for (auto& [device, list] : free_lists_) {
      if (list.empty()) continue;
      // Blocks may still be read by queued work; cudaFree would wait for the device anyway, but
      // say so explicitly rather than rely on its implicit synchronisation.
      if (cudaSetDevice(device) == cudaSuccess) CUDA_REPORT(cudaDeviceSynchronize());
      for (const auto& [bytes, ptr] : list) {
        release(ptr);
        released += bytes;
      }
      list.clear();
    }
    if (know_current) cudaSetDevice(current);
    cached_bytes_ -= released;
    return released;
  }

  static void release(void* ptr) noexcept {
    const cudaError_t status = cudaFree(ptr);
    // At process exit the runtime may already be unloading; the memory goes with it.
    if (status == cudaErrorCudartUnloading) return;
    CUDA_REPORT(status);
  }

  std::mutex mutex_;
  bool bypass_ = false;
  std::unordered_map<void*, Block> blocks_;                      // handed out, by pointer
  std::map<int, std::multimap<std::size_t, void*>> free_lists_;  // per device, by size class
  std::size_t allocated_bytes_ = 0;                              // sum of handed-out classes
  std::size_t cached_bytes_ = 0;                                 // sum of cached classes
};

CachingAllocator& allocator() {
  static CachingAllocator* const instance = new CachingAllocator();  // leaked on purpose
  return *instance;
}

// Queues a copy on Kiln's stream and waits for it: the header promises synchronous copies, and
// being on the stream orders the copy after every kernel already queued there.
void copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return;
  const cudaStream_t s = stream();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace

bool available() { return probe().count > 0; }

int device_count() { return probe().count; }

const char* unavailable_reason() { return probe().reason.c_str(); }

void* allocate(std::size_t bytes) {
  // NOTE: a zero-byte allocation is a null pointer that free() accepts; it touches no device.
  if (bytes == 0) return nullptr;
  return allocator().allocate(bytes);
}

void free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  allocator().free(ptr);
}

std::size_t cached_bytes() { return available() ? allocator().cached_bytes() : 0; }

std::size_t allocated_bytes() { return available() ? allocator().allocated_bytes() : 0; }

void empty_cache() {
  if (available()) allocator().empty_cache();
}

void* allocate_pinned(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  KILN_CHECK(available(), "CUDA pinned allocation of ", bytes,
             " bytes: no CUDA device: ", unavailable_reason());
  void* ptr = nullptr;
  const cudaError_t status = cudaHostAlloc(&ptr, bytes, cudaHostAllocDefault);
  if (status != cudaSuccess) {
    cudaGetLastError();
    KILN_FAIL("CUDA pinned host allocation of ", bytes,
              " bytes failed: ", cudaGetErrorString(status));
  }
  return ptr;
}

void free_pinned(void* ptr) noexcept {
  if (ptr == nullptr) return;
  const cudaError_t status = cudaFreeHost(ptr);
  if (status == cudaErrorCudartUnloading) return;
  CUDA_REPORT(status);
}

void copy_host_to_device(void* dst, const void* src, std::size_t bytes) {
  copy(dst, src, bytes, cudaMemcpyHostToDevice);
}

void copy_device_to_host(void* dst, const void* src, std::size_t bytes) {
  copy(dst, src, bytes, cudaMemcpyDeviceToHost);
}

void copy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  copy(dst, src, bytes, cudaMemcpyDeviceToDevice);
}

void memset_zero(void* dst, std::size_t bytes) {
  if (bytes == 0) return;
  const cudaStream_t s = stream();
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace kiln::kernels::cuda
