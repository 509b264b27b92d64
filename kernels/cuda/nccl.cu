// kernels/nccl.h over NCCL when the build has it (KILN_WITH_NCCL), else the world without NCCL:
// select_device still works (it is plain CUDA), and a collective in a world of more than one
// says the build has no NCCL. Host code only; nvcc compiles it with the rest of the backend.
//
// libnccl is opened with dlopen when a job first needs a communicator, not linked: it is 200 MB
// that every binary would otherwise load, and a GPU bundle carry or every target provide, for a
// path that only multi-GPU jobs take. The soname is looked up on the library path first, then in
// the folder CMake found it in (KILN_NCCL_FALLBACK).
//
// NOTE: never run on a GPU by this project's CI (it has none); see docs/distributed.md.
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "base/error.h"
#include "kernels/comm.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device_memory.h"
#include "kernels/nccl.h"

#if KILN_WITH_NCCL
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace kiln::kernels::nccl {
namespace {

bool multi_rank() { return comm::world().size > 1; }

#if KILN_WITH_NCCL
// The NCCL entry points Kiln calls, from libnccl.so.2.
struct Library {
  decltype(&::ncclGetVersion) get_version;
  decltype(&::ncclGetUniqueId) get_unique_id;
  decltype(&::ncclCommInitRank) comm_init_rank;
  decltype(&::ncclAllReduce) all_reduce;
  decltype(&::ncclCommGetAsyncError) comm_get_async_error;
  decltype(&::ncclCommDestroy) comm_destroy;
  decltype(&::ncclCommAbort) comm_abort;
  decltype(&::ncclGetErrorString) get_error_string;
  decltype(&::ncclGetLastError) get_last_error;
};

template <class F>
void bind(void* handle, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(handle, name));
  KILN_CHECK(f != nullptr, "NCCL: libnccl.so.2 has no ", name, " (", dlerror(), ")");
}

Library load_library() {
  void* handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) handle = dlopen(KILN_NCCL_FALLBACK, RTLD_NOW | RTLD_LOCAL);
  KILN_CHECK(handle != nullptr, "NCCL: dlopen(libnccl.so.2) failed: ", dlerror(),
             "; a job on GPUs needs NCCL on the library path (the CUDA toolkit's lib64, or pip's ",
             "nvidia-nccl)");
  Library lib{};  // the handle stays open for the process: NCCL's threads run its code
  bind(handle, "ncclGetVersion", lib.get_version);
  bind(handle, "ncclGetUniqueId", lib.get_unique_id);
  bind(handle, "ncclCommInitRank", lib.comm_init_rank);
  bind(handle, "ncclAllReduce", lib.all_reduce);
  bind(handle, "ncclCommGetAsyncError", lib.comm_get_async_error);
  bind(handle, "ncclCommDestroy", lib.comm_destroy);
  bind(handle, "ncclCommAbort", lib.comm_abort);
  bind(handle, "ncclGetErrorString", lib.get_error_string);
  bind(handle, "ncclGetLastError", lib.get_last_error);
  int version = 0;
  KILN_CHECK(lib.get_version(&version) == ncclSuccess && version / 10000 == NCCL_MAJOR,
             "NCCL: libnccl.so.2 is version ", version, ", Kiln was compiled against ",
             NCCL_VERSION_CODE, " (the major versions must match)");
  return lib;
}

// Loaded on first use; a load that throws is tried again on the next call.
const Library& library() {
  static const Library lib = load_library();
  return lib;
}

ncclComm_t g_comm = nullptr;  // the world's communicator, once init() has made it

// NCCL's last message, on one line (it may hold several).
std::string last_error(ncclComm_t comm) {
  std::string text = library().get_last_error(comm);
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
  KILN_FAIL("NCCL: ", call, " failed: ", library().get_error_string(status),
            detail.empty() ? "" : " (", detail, detail.empty() ? "" : ")");
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
  // NOTE: a rank that throws here leaves the others waiting in the broadcast or in
  // ncclCommInitRank: the app ends the job on any rank's error (comm::abort_job), never a hang.
  const Library& lib = library();
  ncclUniqueId id{};
  if (comm::is_root()) check_nccl(lib.get_unique_id(&id), "ncclGetUniqueId");
  comm::broadcast(&id, sizeof id);
  const comm::World& w = comm::world();
  ncclComm_t made = nullptr;
  const ncclResult_t status = lib.comm_init_rank(&made, w.size, id, w.rank);
  if (status != ncclSuccess) {
    const std::string detail = last_error(made);
    if (made != nullptr) lib.comm_abort(made);
    int device = -1;
    const std::string gpu = cudaGetDevice(&device) == cudaSuccess
                                ? " on GPU " + std::to_string(device)
                                : std::string(" (no current GPU)");
    KILN_FAIL("NCCL: ncclCommInitRank failed for rank ", w.rank, " of ", w.size, gpu, ": ",
              lib.get_error_string(status), detail.empty() ? "" : " (", detail,
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
  const Library& lib = library();
  // An earlier operation that failed on the GPU surfaces here, before more work is queued on it.
  ncclResult_t async = ncclSuccess;
  check_nccl(lib.comm_get_async_error(g_comm, &async), "ncclCommGetAsyncError");
  check_nccl(async, "an earlier NCCL operation");
  check_nccl(lib.all_reduce(data, data, static_cast<std::size_t>(n), ncclFloat, ncclSum, g_comm,
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
  const Library& lib = library();  // loaded: it made g_comm
  const ncclResult_t status = lib.comm_destroy(g_comm);
  if (status != ncclSuccess) {
    std::fprintf(stderr, "kiln: NCCL: ncclCommDestroy failed: %s\n", lib.get_error_string(status));
  }
  g_comm = nullptr;
#endif
}

void abort() noexcept {
#if KILN_WITH_NCCL
  if (g_comm == nullptr) return;
  const Library& lib = library();  // loaded: it made g_comm
  const ncclResult_t status = lib.comm_abort(g_comm);
  if (status != ncclSuccess) {
    std::fprintf(stderr, "kiln: NCCL: ncclCommAbort failed: %s\n", lib.get_error_string(status));
  }
  g_comm = nullptr;
#endif
}

}  // namespace kiln::kernels::nccl
