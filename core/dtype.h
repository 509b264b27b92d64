// Element types and devices. float32 runs everywhere; float64 is the CPU's (the gradient checker
// needs it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>

namespace kiln {

// Int32 holds indices (class labels, max-pool argmax), never gradients.
enum class DType : std::uint8_t { Float32, Float64, Int32 };
enum class Device : std::uint8_t { CPU, CUDA };

inline std::size_t dtype_size(DType t) { return t == DType::Float64 ? 8 : 4; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int32:
      return "int32";
  }
  return "?";
}
inline bool is_floating(DType t) { return t != DType::Int32; }
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline std::ostream& operator<<(std::ostream& o, DType t) { return o << dtype_name(t); }
inline std::ostream& operator<<(std::ostream& o, Device d) { return o << device_name(d); }

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::Int32;
}

}  // namespace kiln
