// kernels/nccl.h over NCCL when the build has it (KILN_WITH_NCCL), else the world without NCCL:
// select_device still works (it is plain CUDA), and a collective in a world of more than one
// says the build has no NCCL. Host code only; nvcc compiles it with the rest of the backend.
//
// NOTE: never run on a GPU by this project's CI (it has none); see docs/distributed.md.
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "core/error.h"
#include "kernels/comm.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device_memory.h"
#include "kernels/nccl.h"

#if KILN_WITH_NCCL
#include <nccl.h>
#endif

namespace kiln::kernels::nccl {
namespace {

bool multi_rank() { return comm::world().size > 1; }

#if KILN_WITH_NCCL
ncclComm_t g_comm = nullptr;  // the world's communicator, once init() has made it

// NCCL's last message, on one line (it may hold several).
std::string last_error(ncclComm_t comm) {
  std::string text = ncclGetLastError(comm);
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

// A failed call leaves the communicator unusable: abort it, so no rank waits on it, then throw.
void check_nccl(ncclResult_t status, const char* call) {
  if (status == ncclSuccess) return;
  const std::string detail = last_error(g_comm);
  nccl::abort();
  KILN_FAIL("NCCL: ", call, " failed: ", ncclGetErrorString(status), detail.empty() ? "" : " (",
            detail, detail.empty() ? "" : ")");
}
#endif

}  // namespace

bool built_with_nccl() { return KILN_WITH_NCCL != 0; }

bool enabled() { return built_with_nccl() && multi_rank(); }

int select_device() {
  KILN_CHECK(cuda::available(), "nccl::select_device: no GPU for rank ", comm::world().rank, ": ",
             cuda::unavailable_reason());
  const int device = comm::world().local_rank % cuda::device_count();
  CUDA_CHECK(cudaSetDevice(device));
  return device;
}

void init() {
  if (!multi_rank()) return;
#if KILN_WITH_NCCL
  if (g_comm != nullptr) return;
  ncclUniqueId id{};
  if (comm::is_root()) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  comm::broadcast(&id, sizeof id);
  const comm::World& w = comm::world();
  ncclComm_t made = nullptr;
  const ncclResult_t status = ncclCommInitRank(&made, w.size, id, w.rank);
  if (status != ncclSuccess) {
    const std::string detail = last_error(made);
    if (made != nullptr) ncclCommAbort(made);
    int device = -1;
    cudaGetDevice(&device);
    KILN_FAIL("NCCL: ncclCommInitRank failed for rank ", w.rank, " of ", w.size, " on GPU ", device,
              ": ", ncclGetErrorString(status), detail.empty() ? "" : " (", detail,
              detail.empty() ? "" : ")");
  }
  g_comm = made;
#else
  KILN_FAIL(
      "NCCL: a job of ", comm::world().size, " ranks asked for a GPU communicator, but this ",
      "build has no NCCL (nccl.h and libnccl under the CUDA toolkit, and MPI, when configured)");
#endif
}

void allreduce_sum(float* data, std::int64_t n) {
  KILN_CHECK(n >= 0, "nccl::allreduce_sum: n must be non-negative, got ", n);
  if (!multi_rank() || n == 0) return;
  init();
#if KILN_WITH_NCCL
  // An earlier operation that failed on the GPU surfaces here, before more work is queued on it.
  ncclResult_t async = ncclSuccess;
  check_nccl(ncclCommGetAsyncError(g_comm, &async), "ncclCommGetAsyncError");
  check_nccl(async, "an earlier NCCL operation");
  check_nccl(ncclAllReduce(data, data, static_cast<std::size_t>(n), ncclFloat, ncclSum, g_comm,
                           cuda::stream()),
             "ncclAllReduce");
#else
  (void)data;
#endif
}

void finalize() noexcept {
#if KILN_WITH_NCCL
  if (g_comm == nullptr) return;
  // Queued all-reduces read and write Kiln's buffers: let them finish before the communicator goes.
  try {
    CUDA_REPORT(cudaStreamSynchronize(cuda::stream()));
  } catch (const Error& e) {
    std::fprintf(stderr, "kiln: NCCL: finalize: %s\n", e.what());
  }
  const ncclResult_t status = ncclCommDestroy(g_comm);
  if (status != ncclSuccess) {
    std::fprintf(stderr, "kiln: NCCL: ncclCommDestroy failed: %s\n", ncclGetErrorString(status));
  }
  g_comm = nullptr;
#endif
}

void abort() noexcept {
#if KILN_WITH_NCCL
  if (g_comm == nullptr) return;
  const ncclResult_t status = ncclCommAbort(g_comm);
  if (status != ncclSuccess) {
    std::fprintf(stderr, "kiln: NCCL: ncclCommAbort failed: %s\n", ncclGetErrorString(status));
  }
  g_comm = nullptr;
#endif
}

}  // namespace kiln::kernels::nccl
