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

// Device allocations. free never throws (it is called from destructors).
void* allocate(std::size_t bytes);
void free(void* ptr) noexcept;

// Copies; synchronous with respect to the host in this first version.
void copy_host_to_device(void* dst, const void* src, std::size_t bytes);
void copy_device_to_host(void* dst, const void* src, std::size_t bytes);
void copy_device_to_device(void* dst, const void* src, std::size_t bytes);
void memset_zero(void* dst, std::size_t bytes);

}  // namespace kiln::kernels::cuda
