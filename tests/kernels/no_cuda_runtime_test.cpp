// The CUDA runtime's answers in a build without the CUDA backend (kernels/cuda/no_cuda*.cpp): no
// device, empty books, settings kept, and every attempt to use a device a kiln::Error that names
// the call and says CUDA is not built in. The kernels have no such stubs (kernels/cuda_build.h),
// and tests/cuda, which calls them, is built only with CUDA; in a CUDA build these tests skip and
// tests/cuda covers the device-less paths instead.
#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "kernels/batch_upload.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_build.h"
#include "kernels/cuda_fill.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_info.h"
#include "kernels/device_memory.h"
#include "kernels/nccl.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;
namespace nccl = kernels::nccl;

#define KILN_SKIP_IN_CUDA_BUILDS()                                                \
  do {                                                                            \
    if (cuda::kCudaBuilt) GTEST_SKIP() << "a CUDA build: tests/cuda covers this"; \
  } while (0)

// The message names the call and the reason the build gives.
void expect_refusal(const char* call, const std::string& message) {
  EXPECT_NE(message.find(call), std::string::npos) << message;
  EXPECT_NE(message.find(cuda::kNotBuiltReason), std::string::npos) << message;
}

TEST(NoCudaRuntime, SaysThereIsNoDeviceAndWhy) {
  KILN_SKIP_IN_CUDA_BUILDS();
  EXPECT_FALSE(cuda::available());
  EXPECT_EQ(cuda::device_count(), 0);
  EXPECT_STREQ(cuda::unavailable_reason(), cuda::kNotBuiltReason);
  EXPECT_EQ(cuda::device_report(), std::string("cuda: ") + cuda::kNotBuiltReason + "\n");
  EXPECT_TRUE(cuda::conv_engine_choices().empty());
}

TEST(NoCudaRuntime, EveryDeviceCallThrowsNamingItself) {
  KILN_SKIP_IN_CUDA_BUILDS();
  float host[4] = {1, 2, 3, 4};
  expect_refusal("cuda::allocate", test::error_of([] { cuda::allocate(256); }));
  expect_refusal("cuda::allocate_pinned", test::error_of([] { cuda::allocate_pinned(256); }));
  expect_refusal("cuda::copy_host_to_device",
                 test::error_of([&] { cuda::copy_host_to_device(host, host, sizeof host); }));
  expect_refusal("cuda::copy_device_to_host",
                 test::error_of([&] { cuda::copy_device_to_host(host, host, sizeof host); }));
  expect_refusal("cuda::copy_device_to_device",
                 test::error_of([&] { cuda::copy_device_to_device(host, host, sizeof host); }));
  expect_refusal("cuda::memset_zero",
                 test::error_of([&] { cuda::memset_zero(host, sizeof host); }));
  expect_refusal("cuda::fill_float", test::error_of([&] { cuda::fill_float(host, 4, 0.f); }));
  expect_refusal("cuda::synchronize", test::error_of([] { cuda::synchronize(); }));
  expect_refusal("cuda::BatchUploader", test::error_of([] { cuda::BatchUploader uploader(64); }));
  EXPECT_EQ(host[0], 1.f);  // nothing was done on the CPU instead
}

TEST(NoCudaRuntime, BooksAreEmptyAndReleasingNothingIsFine) {
  KILN_SKIP_IN_CUDA_BUILDS();
  EXPECT_EQ(cuda::cached_bytes(), 0u);
  EXPECT_EQ(cuda::allocated_bytes(), 0u);
  EXPECT_NO_THROW(cuda::empty_cache());
  cuda::free(nullptr);
  cuda::free_pinned(nullptr);
}

TEST(NoCudaRuntime, MathModeIsASettingKeptAndReadBack) {
  KILN_SKIP_IN_CUDA_BUILDS();
  const cuda::MathMode before = cuda::math_mode();
  {
    cuda::MathModeScope tf32(cuda::MathMode::TF32);
    EXPECT_EQ(cuda::math_mode(), cuda::MathMode::TF32);
  }
  EXPECT_EQ(cuda::math_mode(), before);
}

TEST(NoCudaRuntime, NcclIsAbsentAndAWorldOfOneNeedsNone) {
  KILN_SKIP_IN_CUDA_BUILDS();
  EXPECT_FALSE(nccl::built_with_nccl());
  EXPECT_FALSE(nccl::enabled());
  const std::string select = test::error_of([] { nccl::select_device(); });
  EXPECT_NE(select.find("nccl::select_device"), std::string::npos) << select;
  const std::string negative = test::error_of([] { nccl::allreduce_sum(nullptr, -1); });
  EXPECT_NE(negative.find("-1"), std::string::npos) << negative;
  float one[1] = {5.f};
  EXPECT_NO_THROW(nccl::allreduce_sum(one, 1));  // a world of one: nothing to sum with
  EXPECT_EQ(one[0], 5.f);
}

}  // namespace
}  // namespace kiln
