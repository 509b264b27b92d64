#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/error.h"
#include "kernels/device_memory.h"

namespace kiln {

namespace {
// 64-byte alignment: a cache line, and what AVX-512 loads and oneDNN prefer.
constexpr std::size_t kCpuAlignment = 64;

std::uint64_t next_version() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}
}  // namespace

void Storage::touch() { version_ = next_version(); }

Storage::Storage(std::size_t bytes, Device device)
    : bytes_(bytes), device_(device), version_(next_version()) {
  if (bytes == 0) return;
  if (device == Device::CPU) {
    const std::size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    data_ = std::aligned_alloc(kCpuAlignment, rounded);
    KILN_CHECK(data_ != nullptr, "out of host memory allocating ", bytes, " bytes");
  } else {
    data_ = kernels::cuda::allocate(bytes);
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_ == Device::CPU) {
    std::free(data_);
  } else {
    kernels::cuda::free(data_);
  }
}

}  // namespace kiln
