// Device memory and the fill kernel. Every test that needs a GPU asks for one first and skips with
// the reason when there is none (CI has the toolkit but no GPU); the last test runs everywhere and
// checks that the missing-device path fails loudly instead.
#include "kernels/device_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/cuda_fill.h"
#include "tests/cuda/cuda_test.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;

// Test-local RAII owner, so a failed assertion does not leak device memory.
struct DeviceFree {
  void operator()(void* ptr) const noexcept { cuda::free(ptr); }
};
using DeviceFloats = std::unique_ptr<float, DeviceFree>;

DeviceFloats allocate_floats(std::int64_t n) {
  return DeviceFloats(static_cast<float*>(cuda::allocate(sizeof(float) * n)));
}

std::size_t bytes_of(const std::vector<float>& v) { return sizeof(float) * v.size(); }

// Odd sizes catch code that assumes a multiple of the block size.
constexpr std::int64_t kN = (1 << 20) + 37;

TEST(CudaDeviceMemory, HostToDeviceToHostRoundTrip) {
  KILN_REQUIRE_CUDA();
  const std::vector<float> host = test::random_floats(kN, /*seed=*/11);
  DeviceFloats dev = allocate_floats(kN);
  ASSERT_NE(dev.get(), nullptr);
  cuda::copy_host_to_device(dev.get(), host.data(), bytes_of(host));
  std::vector<float> back(kN, test::kSentinelA);
  cuda::copy_device_to_host(back.data(), dev.get(), bytes_of(back));
  EXPECT_EQ(back, host);  // bit-exact: a copy never rounds
}

TEST(CudaDeviceMemory, DeviceToDeviceCopy) {
  KILN_REQUIRE_CUDA();
  const std::vector<float> host = test::random_floats(kN, /*seed=*/12);
  DeviceFloats a = allocate_floats(kN);
  DeviceFloats b = allocate_floats(kN);
  cuda::copy_host_to_device(a.get(), host.data(), bytes_of(host));
  const std::vector<float> sentinel(kN, test::kSentinelB);
  cuda::copy_host_to_device(b.get(), sentinel.data(), bytes_of(sentinel));
  cuda::copy_device_to_device(b.get(), a.get(), bytes_of(host));
  std::vector<float> back(kN, test::kSentinelA);
  cuda::copy_device_to_host(back.data(), b.get(), bytes_of(back));
  EXPECT_EQ(back, host);
}

TEST(CudaDeviceMemory, MemsetZeroClearsOnlyTheGivenBytes) {
  KILN_REQUIRE_CUDA();
  const std::vector<float> host = test::random_floats(kN, /*seed=*/13, 1.f, 2.f);
  DeviceFloats dev = allocate_floats(kN);
  cuda::copy_host_to_device(dev.get(), host.data(), bytes_of(host));
  const std::int64_t cleared = kN - 5;
  cuda::memset_zero(dev.get(), sizeof(float) * cleared);
  std::vector<float> back(kN, test::kSentinelA);
  cuda::copy_device_to_host(back.data(), dev.get(), bytes_of(back));
  for (std::int64_t i = 0; i < kN; ++i) {
    const float expected = i < cleared ? 0.f : host[i];
    ASSERT_EQ(back[i], expected) << "at element " << i;
  }
}

TEST(CudaDeviceMemory, FillFloatWritesExactlyN) {
  KILN_REQUIRE_CUDA();
  // More elements than one grid of the fill kernel covers, so the grid-stride loop wraps.
  const std::int64_t n = 5 * (1 << 20) + 3;
  const std::int64_t guard = 64;  // elements past n that must stay untouched
  DeviceFloats dev = allocate_floats(n + guard);
  const std::vector<float> sentinel(n + guard, test::kSentinelB);
  cuda::copy_host_to_device(dev.get(), sentinel.data(), bytes_of(sentinel));
  cuda::fill_float(dev.get(), n, 0.25f);
  std::vector<float> back(n + guard, test::kSentinelA);
  cuda::copy_device_to_host(back.data(), dev.get(), bytes_of(back));
  for (std::int64_t i = 0; i < n + guard; ++i) {
    const float expected = i < n ? 0.25f : test::kSentinelB;
    ASSERT_EQ(back[i], expected) << "at element " << i << " (n = " << n << ")";
  }
}

TEST(CudaDeviceMemory, FillFloatOfNothingIsANoOp) {
  KILN_REQUIRE_CUDA();
  EXPECT_NO_THROW(cuda::fill_float(nullptr, 0, 1.f));
  EXPECT_THROW(cuda::fill_float(nullptr, -1, 1.f), Error);
}

TEST(CudaDeviceMemory, ZeroByteAllocationIsNullAndHarmless) {
  KILN_REQUIRE_CUDA();
  void* ptr = cuda::allocate(0);
  EXPECT_EQ(ptr, nullptr);
  std::vector<float> host(1, test::kSentinelA);
  EXPECT_NO_THROW(cuda::copy_host_to_device(ptr, host.data(), 0));
  EXPECT_NO_THROW(cuda::copy_device_to_host(host.data(), ptr, 0));
  EXPECT_NO_THROW(cuda::copy_device_to_device(ptr, ptr, 0));
  EXPECT_NO_THROW(cuda::memset_zero(ptr, 0));
  cuda::free(ptr);
  cuda::free(nullptr);
  EXPECT_EQ(host[0], test::kSentinelA);
}

TEST(CudaDeviceMemory, DeviceCountAgreesWithAvailable) {
  EXPECT_EQ(cuda::available(), cuda::device_count() > 0);
  if (cuda::available()) {
    EXPECT_STREQ(cuda::unavailable_reason(), "");
  } else {
    EXPECT_STRNE(cuda::unavailable_reason(), "");
  }
}

// Runs on every CUDA build: without a device nothing is silently done on the CPU instead; the
// calls throw kiln::Error, and the message says CUDA is the problem. (A CPU-only build's answers:
// tests/kernels/no_cuda_runtime_test.cpp.)
TEST(CudaDeviceMemory, WithoutDeviceCallsThrowNamingCuda) {
  if (cuda::available()) {
    GTEST_SKIP() << "a CUDA device is present (" << cuda::device_count()
                 << "); the missing-device path cannot be exercised here";
  }
  try {
    void* ptr = cuda::allocate(256);
    cuda::free(ptr);
    FAIL() << "allocate succeeded although available() is false";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
