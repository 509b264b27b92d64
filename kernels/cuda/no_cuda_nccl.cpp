// kernels/nccl.h for builds without the CUDA backend: there is no GPU to select and no NCCL, so a
// job's gradients go through the host (optim/gradient_sync.h); a collective asked for in a world
// of more than one says why it cannot be.
#include "base/error.h"
#include "kernels/comm.h"
#include "kernels/nccl.h"

namespace kiln::kernels::nccl {

bool built_with_nccl() { return false; }

bool enabled() { return false; }

int select_device() { KILN_FAIL("nccl::select_device: Kiln was built without CUDA"); }

void init() {
  KILN_CHECK(comm::world().size == 1, "NCCL: a job of ", comm::world().size, " ranks asked for a ",
             "GPU communicator, but Kiln was built without CUDA");
}

void allreduce_sum(float* /*data*/, std::int64_t n) {
  KILN_CHECK(n >= 0, "nccl::allreduce_sum: n must be non-negative, got ", n);
  if (n > 0) init();
}

// There is never a communicator to destroy or abort.
void finalize() noexcept {}

void abort() noexcept {}

}  // namespace kiln::kernels::nccl
