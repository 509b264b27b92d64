// Storage: one contiguous allocation on one device, shared by the tensors that view it
// (reshape and detach share; clone copies). Move-only; tensors hold it through shared_ptr.
#pragma once

#include <cstddef>

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
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

}  // namespace kiln
