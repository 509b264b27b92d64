// DeviceBuffer: device floats for CUDA tests, RAII and move-only, so a failed assertion never
// leaks device memory. Copies between host and device are explicit: construct from a host vector
// (upload), download() (copy back). Uses only kernels/device_memory.h, so it compiles in builds
// without CUDA too (where constructing one throws).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/device_memory.h"

namespace kiln::test {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Uploads `host`.
  explicit DeviceBuffer(const std::vector<float>& host)
      : data_(static_cast<float*>(kernels::cuda::allocate(sizeof(float) * host.size()))),
        size_(static_cast<std::int64_t>(host.size())) {
    kernels::cuda::copy_host_to_device(data_.get(), host.data(), bytes());
  }
  // n copies of `value`: a sentinel, usually, for an output that must be overwritten.
  DeviceBuffer(std::int64_t n, float value)
      : DeviceBuffer(std::vector<float>(static_cast<std::size_t>(n), value)) {}

  float* get() { return data_.get(); }
  const float* get() const { return data_.get(); }
  std::int64_t size() const { return size_; }
  std::size_t bytes() const { return sizeof(float) * static_cast<std::size_t>(size_); }

  std::vector<float> download() const {
    std::vector<float> host(static_cast<std::size_t>(size_));
    kernels::cuda::copy_device_to_host(host.data(), data_.get(), bytes());
    return host;
  }

 private:
  struct Free {
    void operator()(float* ptr) const noexcept { kernels::cuda::free(ptr); }
  };
  std::unique_ptr<float, Free> data_;  // (size_)
  std::int64_t size_ = 0;
};

}  // namespace kiln::test
