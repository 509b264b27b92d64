// kernels/nccl.h in one process (a world of one: these binaries are not started by mpirun). The
// collectives must then be no-ops that touch nothing, so single-process training is unchanged
// whatever the build; select_device must pick GPU local_rank % device_count = 0, or say there is
// none. The two-rank NCCL run (two GPUs, mpirun) is tests/dist/nccl_test.cpp, in ctest's
// dist_mpirun_np2, which skips it, saying why, on a machine without two GPUs.
#include "kernels/nccl.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/tensor.h"
#include "kernels/comm.h"
#include "kernels/device_memory.h"
#include "tests/cuda/cuda_test.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

namespace nccl = kernels::nccl;

TEST(Nccl, WorldOfOneMakesNoCommunicatorAndReducesNothing) {
  ASSERT_EQ(kernels::comm::world().size, 1);
  EXPECT_FALSE(nccl::enabled());
  nccl::init();  // no communicator, and no GPU needed for not making one
  // Never dereferenced in a world of one: a host pointer proves it (a GPU sum would fault).
  std::vector<float> data = {1.f, 2.f, 3.f};
  nccl::allreduce_sum(data.data(), 3);
  EXPECT_EQ(data, (std::vector<float>{1.f, 2.f, 3.f}));
  nccl::finalize();
  nccl::abort();
  nccl::finalize();  // idempotent
}

TEST(Nccl, NegativeCountIsRefusedNamingTheCall) {
  const std::string message = test::error_of([] { nccl::allreduce_sum(nullptr, -1); });
  EXPECT_NE(message.find("nccl::allreduce_sum"), std::string::npos) << message;
  EXPECT_NE(message.find("-1"), std::string::npos) << message;
}

TEST(Nccl, SelectDeviceTakesLocalRankModuloDevicesOrSaysThereIsNone) {
  if (!kernels::cuda::available()) {
    const std::string message = test::error_of([] { nccl::select_device(); });
    EXPECT_NE(message.find("select_device"), std::string::npos) << message;
    GTEST_SKIP() << "checked the refusal only; no CUDA device: "
                 << kernels::cuda::unavailable_reason();
  }
  EXPECT_EQ(nccl::select_device(), 0);  // local rank 0 of a world of one
}

TEST(Nccl, WorldOfOneLeavesDeviceDataAlone) {
  KILN_REQUIRE_CUDA();
  nccl::select_device();
  Tensor t = Tensor::from_vector({5}, std::vector<float>{1, 2, 3, 4, 5}).to(Device::CUDA);
  nccl::allreduce_sum(t.device_data<float>(), 5);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace kiln
