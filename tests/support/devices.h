// The devices every layer test runs over, as Caffe's MultiDeviceTest does: a test written once as
// a TYPED_TEST of OnEveryDevice runs on
//   CpuReference  the CPU in float64, which always takes the reference kernels;
//   CpuFast       the CPU in float32: the fast path (oneDNN, BLAS, OpenMP);
//   Cuda          CUDA in float32; its cases skip, saying why, without a usable device.
// A new layer's test so gets the fast path and CUDA without anyone remembering them.
//
//   template <typename D> class ReLUOn : public test::OnEveryDevice<D> {};
//   TYPED_TEST_SUITE(ReLUOn, test::EveryDevice, test::DeviceNames);
//   TYPED_TEST(ReLUOn, ClampsNegatives) { Tensor x = TestFixture::here(...); ... }
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.h"
#include "tests/support/cuda_skip.h"

namespace kiln::test {

struct CpuReference {
  static constexpr Device kDevice = Device::CPU;
  static constexpr DType kDType = DType::Float64;
  static constexpr const char* kName = "CpuReference";
};
struct CpuFast {
  static constexpr Device kDevice = Device::CPU;
  static constexpr DType kDType = DType::Float32;
  static constexpr const char* kName = "CpuFast";
};
struct Cuda {
  static constexpr Device kDevice = Device::CUDA;
  static constexpr DType kDType = DType::Float32;
  static constexpr const char* kName = "Cuda";
};

using EveryDevice = ::testing::Types<CpuReference, CpuFast, Cuda>;

// Test names end in the device's name: ReLUOn/CpuFast.ClampsNegatives.
struct DeviceNames {
  template <typename D>
  static std::string GetName(int) {
    return D::kName;
  }
};

template <typename D>
class OnEveryDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (D::kDevice == Device::CUDA) KILN_REQUIRE_CUDA();
  }

 public:
  // `t` (any dtype and device) in this device's dtype, on this device: a copy.
  static Tensor here(const Tensor& t) { return t.to(D::kDType).to(D::kDevice); }
  static Tensor here(const Shape& shape, const std::vector<double>& values) {
    return here(Tensor::from_vector<double>(shape, values));
  }
  // The values, back on the host, as doubles.
  static std::vector<double> values(const Tensor& t) {
    return t.to(Device::CPU).to_double_vector();
  }
  static constexpr bool is_reference() { return std::is_same_v<D, CpuReference>; }
};

}  // namespace kiln::test
