// The NCCL path of optim/gradient_sync.h and kernels/nccl.h in a real job of 2 processes, one GPU
// each. Runs only where the build has NCCL and this host has 2 GPUs; otherwise every rank skips,
// saying why (so on CI, which has no GPU, these tests have never run).
//
// Tolerance: bitwise. With 2 ranks every reduced element is a single float addition, a + b, on
// NCCL's ring as in MPI's reduction, and IEEE addition is commutative; the packing and unpacking
// multiplies (count, then 1/global count) are the same single roundings on both paths, and the
// forward and backward are the same GPU kernels on the same inputs.
#include "kernels/nccl.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "core/functions.h"
#include "core/random.h"
#include "kernels/comm.h"
#include "kernels/device_memory.h"
#include "layers/dense.h"
#include "layers/sequential.h"
#include "optim/gradient_sync.h"
#include "tests/support/cuda_skip.h"

namespace kiln {
namespace {

namespace comm = kernels::comm;
namespace nccl = kernels::nccl;

// Why this job cannot run the NCCL tests on this rank, or "" when it can.
std::string why_not_nccl() {
  if (comm::world().size != 2) return "needs a job of 2 ranks (mpirun -np 2)";
  if (!nccl::built_with_nccl()) return "this build has no NCCL (or no MPI)";
  if (!kernels::cuda::available()) {
    return std::string("no CUDA device: ") + kernels::cuda::unavailable_reason();
  }
  if (kernels::cuda::device_count() < 2) {
    return "needs 2 GPUs on this host (one per rank), found " +
           std::to_string(kernels::cuda::device_count());
  }
  return "";
}

// Every rank must take the same decision, or one would wait in a collective alone.
#define REQUIRE_NCCL_JOB()                                                                       \
  do {                                                                                           \
    const std::string why = why_not_nccl();                                                      \
    std::int64_t able = why.empty() ? 1 : 0;                                                     \
    if (comm::world().size == 2) comm::allreduce_sum(&able, 1);                                  \
    if (able != comm::world().size) GTEST_SKIP() << (why.empty() ? "another rank cannot" : why); \
    nccl::select_device();                                                                       \
  } while (0)

std::shared_ptr<Sequential> tiny_model() {
  Generator gen(7);  // the same weights on every rank
  auto m = std::make_shared<Sequential>("m");
  m->add(std::make_shared<Dense>("dense", 6, 5, Activation::ReLU, gen));
  m->add(std::make_shared<Dense>("dense_1", 5, 3, Activation::None, gen));
  return m;
}

TEST(DistNccl, AllReduceSumsDeviceBuffersOnKilnsStream) {
  REQUIRE_NCCL_JOB();
  const int rank = comm::world().rank;
  for (const std::int64_t n : {std::int64_t{1}, std::int64_t{1000003}}) {
    std::vector<float> mine(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) mine[i] = static_cast<float>((i % 97) * (rank + 1));
    Tensor t = Tensor::from_vector({n}, mine).to(Device::CUDA);
    nccl::allreduce_sum(t.device_data<float>(), n);
    const std::vector<float> got = t.to_vector<float>();  // a copy queued after the sum
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(got[i], static_cast<float>((i % 97) * 3)) << "n " << n << ", element " << i;
    }
  }
}

// Small buckets started from the hook, unequal slices: NCCL on the device against host staging.
TEST(DistNccl, DeviceBucketsGiveWhatHostStagedBucketsGive) {
  REQUIRE_NCCL_JOB();
  const int rank = comm::world().rank;
  Generator gen(11 + static_cast<std::uint64_t>(rank));  // each rank its own images
  const std::int64_t count = 5 + rank;
  const Tensor x = Tensor::uniform({count, 6}, -1, 1, gen).to(Device::CUDA);
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < count; ++i) labels.push_back(static_cast<std::int32_t>(i % 3));
  const Tensor y = Tensor::from_vector({count}, labels).to(Device::CUDA);
  std::vector<std::vector<float>> grads;
  for (const auto transport : {GradientSync::Transport::Auto, GradientSync::Transport::Host}) {
    auto model = tiny_model();
    model->to(Device::CUDA);
    GradientSync sync(model->trainable_parameters(), /*bucket_bytes=*/32, /*overlap=*/true,
                      transport);
    EXPECT_EQ(sync.reduces_on_device(), transport == GradientSync::Transport::Auto);
    EXPECT_GT(sync.bucket_count(), 1u);
    sync.backward(softmax_cross_entropy((*model)(x), y), count);
    EXPECT_GT(sync.buckets_started_early(), 0u);
    std::vector<float> g;
    for (const Tensor& p : model->trainable_parameters()) {
      ASSERT_EQ(p.grad().device(), Device::CUDA);
      const std::vector<float> v = p.grad().to_vector<float>();
      g.insert(g.end(), v.begin(), v.end());
    }
    grads.push_back(g);
  }
  EXPECT_EQ(grads[0], grads[1]);
}

// Without a GPU, NCCL's part up to the device still runs: libnccl is dlopen'ed, its symbols and
// version checked, rank 0's ncclUniqueId broadcast over MPI; then ncclCommInitRank fails on every
// rank (no device), and must say so on one line naming the call, not hang or crash. So CI, which
// has no GPU, runs the bootstrap and the error path.
TEST(DistNccl, InitWithoutAGpuFailsNamingTheCall) {
  if (comm::world().size != 2) GTEST_SKIP() << "needs a job of 2 ranks (mpirun -np 2)";
  if (!nccl::built_with_nccl()) GTEST_SKIP() << "this build has no NCCL (or no MPI)";
  KILN_SKIP_WITH_CUDA("the tests above use it");
  std::string message;
  try {
    nccl::init();
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("NCCL: ncclCommInitRank failed for rank " +
                         std::to_string(comm::world().rank) + " of 2"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  nccl::finalize();  // no communicator was made: nothing to destroy
}

// On CPU parameters Auto is the host path, so CI's CPU job checks the choice (it runs here).
TEST(DistNccl, CpuParametersStayOnTheHostPath) {
  if (comm::world().size != 2) GTEST_SKIP() << "needs a job of 2 ranks (mpirun -np 2)";
  auto model = tiny_model();
  GradientSync sync(model->trainable_parameters());
  EXPECT_FALSE(sync.reduces_on_device());
}

}  // namespace
}  // namespace kiln
