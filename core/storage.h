// Storage: one contiguous allocation on one device, shared by the tensors that view it
// (reshape and detach share; clone copies). Move-only; tensors hold it through shared_ptr.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace kiln {

class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  // A stamp that changes whenever the data may have changed: Tensor hands out a writable pointer
  // only after calling touch(). Stamps come from one process-wide counter, so two storages (even
  // one allocated where another was freed) never share one: (address, version) names one content.
  // Caches of derived data (oneDNN's reordered weights) compare it to know they are still valid.
  std::uint64_t version() const { return version_; }
  void touch();
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
  std::uint64_t version_;
};

}  // namespace kiln
