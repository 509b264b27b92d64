#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "base/error.h"
#include "kernels/device_memory.h"
#include "kernels/host_cache.h"

namespace kiln {

namespace {
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
    data_ = kernels::host_cache::allocate(bytes);  // 64-byte aligned; may be a reused block
    KILN_CHECK(data_ != nullptr, "out of host memory allocating ", bytes, " bytes");
  } else {
    data_ = kernels::cuda::allocate(bytes);
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_ == Device::CPU) {
    kernels::host_cache::release(data_, bytes_);
  } else {
    kernels::cuda::free(data_);
  }
}

}  // namespace kiln
