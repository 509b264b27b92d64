// Device memory plumbing for the CUDA backend. This header includes nothing from CUDA, so
// CPU-only code and tools compile without it. Without the CUDA backend built in, every function
// here throws a kiln::Error saying so (available() returns false).
#pragma once

#include <cstddef>

namespace kiln::kernels::cuda {

// True when Kiln was built with CUDA and a device answers.
bool available();
// Number of visible devices; 0 when none (or no CUDA build).
int device_count();
// Why available() is false, in words, for skip messages and errors.
const char* unavailable_reason();

// Device allocations, from a caching allocator: a freed block is kept for the next request of
// its size class, so a steady-state training step calls neither cudaMalloc nor cudaFree. On out
// of memory the cache is released and the request retried once, then kiln::Error says what was
// asked for, what was cached and what the device has. KILN_CUDA_NO_CACHE=1 in the environment
// bypasses the cache (for compute-sanitizer). allocate(0) is nullptr; free never throws (it is
// called from destructors) and accepts nullptr. Thread-safe.
void* allocate(std::size_t bytes);
void free(void* ptr) noexcept;

// The allocator's books, in bytes of size classes: held in the cache (free, kept for reuse), and
// handed out (in use). Both are 0 without a device.
std::size_t cached_bytes();
std::size_t allocated_bytes();
// Returns every cached block to the driver (waits for queued work first). No-op without a device.
void empty_cache();

// Page-locked host memory, for fast and overlappable uploads (the data loader's staging buffers).
// Not cached: allocate a few buffers once and keep them. allocate_pinned(0) is nullptr;
// free_pinned never throws and accepts nullptr.
void* allocate_pinned(std::size_t bytes);
void free_pinned(void* ptr) noexcept;

// Copies and memset, queued on Kiln's stream after all work already queued there, then waited
// for: synchronous with respect to the host.
void copy_host_to_device(void* dst, const void* src, std::size_t bytes);
void copy_device_to_host(void* dst, const void* src, std::size_t bytes);
void copy_device_to_device(void* dst, const void* src, std::size_t bytes);
void memset_zero(void* dst, std::size_t bytes);

}  // namespace kiln::kernels::cuda
