// DeviceVector<T>: a typed device array for the CUDA tests (floats, int32 labels and
// argmax, int64 counters, uint8 images). RAII and move-only, so a failed assertion never leaks
// device memory; every copy is explicit: construct from a host vector (upload), download() (copy
// back). Uses only kernels/device_memory.h, so it compiles without CUDA too (where constructing
// one throws).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/device_memory.h"

namespace kiln::test {

template <typename T>
class DeviceVector {
 public:
  DeviceVector() = default;
  // Uploads `host`.
  explicit DeviceVector(const std::vector<T>& host)
      : data_(static_cast<T*>(kernels::cuda::allocate(sizeof(T) * host.size()))),
        size_(static_cast<std::int64_t>(host.size())) {
    kernels::cuda::copy_host_to_device(data_.get(), host.data(), bytes());
  }
  // n copies of `value`: usually a sentinel, for an output that must be overwritten.
  DeviceVector(std::int64_t n, T value)
      : DeviceVector(std::vector<T>(static_cast<std::size_t>(n), value)) {}

  T* get() { return data_.get(); }
  const T* get() const { return data_.get(); }
  std::int64_t size() const { return size_; }
  std::size_t bytes() const { return sizeof(T) * static_cast<std::size_t>(size_); }

  // The copies run on Kiln's stream and wait for it, so this sees every kernel queued before.
  std::vector<T> download() const {
    std::vector<T> host(static_cast<std::size_t>(size_));
    kernels::cuda::copy_device_to_host(host.data(), data_.get(), bytes());
    return host;
  }

 private:
  struct Free {
    void operator()(T* ptr) const noexcept { kernels::cuda::free(ptr); }
  };
  std::unique_ptr<T, Free> data_;  // (size_)
  std::int64_t size_ = 0;
};

}  // namespace kiln::test
