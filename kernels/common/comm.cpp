// kernels/comm.h over MPI when the build has it (KILN_WITH_MPI), else the world of one.
#include "kernels/comm.h"

#include <chrono>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "kernels/nccl.h"

#if KILN_WITH_MPI
#include <mpi.h>
#endif

namespace kiln::kernels::comm {
namespace {

World g_world;
bool g_joined = false;  // MPI_Init was called by init()

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Time blocked in MPI (seconds_in_collectives): added up by a scope around each blocking call.
double g_blocked_seconds = 0;
struct BlockedTimer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~BlockedTimer() {
    g_blocked_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

#if KILN_WITH_MPI
bool joined() { return g_joined && g_world.size > 1; }

void check_mpi(int status, const char* what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(status, text, &length);
  KILN_FAIL("MPI: ", what, " failed: ", std::string(text, static_cast<std::size_t>(length)));
}

template <class T>
void allreduce(T* data, std::int64_t n, MPI_Datatype type) {
  if (!joined() || n == 0) return;
  KILN_CHECK(n <= INT32_MAX, "MPI all-reduce of ", n, " values: more than one call can carry");
  const BlockedTimer timer;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), type, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
}
#endif

}  // namespace

bool built_with_mpi() { return KILN_WITH_MPI != 0; }

int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    const int size = env_int(name, 0);
    if (size > 0) return size;
  }
  return 1;
}

void init(int* argc, char*** argv) {
  if (g_joined) return;
  const int announced = launcher_world_size();
  if (announced <= 1) return;
#if KILN_WITH_MPI
  int provided = 0;
  // FUNNELED: only the main thread calls MPI (the loader's worker never does).
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_joined = true;
  KILN_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI: the library offers thread level ", provided,
             ", Kiln needs MPI_THREAD_FUNNELED (its loader runs a worker thread)");
  // Errors come back as codes (check_mpi turns them into kiln::Error) instead of aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_world.local_rank);
  MPI_Comm_free(&local);
#else
  (void)argc;
  (void)argv;
  KILN_FAIL("started as one of ", announced, " processes by an MPI launcher, but this build has ",
            "no MPI (install libopenmpi-dev and rebuild: scripts/setup)");
#endif
}

const World& world() { return g_world; }

bool is_root() { return g_world.rank == 0; }

void finalize() {
  nccl::finalize();  // the GPU communicator was bootstrapped over MPI: it goes first
#if KILN_WITH_MPI
  if (g_joined) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
#endif
  g_joined = false;
}

void abort_job(int code) {
  nccl::abort();  // releases GPU operations waiting for a peer that will never come
#if KILN_WITH_MPI
  if (joined()) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

void allreduce_sum(float* data, std::int64_t n) {
#if KILN_WITH_MPI
  allreduce(data, n, MPI_FLOAT);
#else
  (void)data, (void)n;
#endif
}

void allreduce_sum(double* data, std::int64_t n) {
#if KILN_WITH_MPI
  allreduce(data, n, MPI_DOUBLE);
#else
  (void)data, (void)n;
#endif
}

void allreduce_sum(std::int64_t* data, std::int64_t n) {
#if KILN_WITH_MPI
  allreduce(data, n, MPI_INT64_T);
#else
  (void)data, (void)n;
#endif
}

void broadcast(void* data, std::size_t bytes, int root) {
#if KILN_WITH_MPI
  if (!joined() || bytes == 0) return;
  KILN_CHECK(bytes <= INT32_MAX, "MPI broadcast of ", bytes, " bytes: more than one call carries");
  const BlockedTimer timer;
  check_mpi(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
#else
  (void)data, (void)bytes, (void)root;
#endif
}

struct PendingSum::Impl {
#if KILN_WITH_MPI
  MPI_Request request = MPI_REQUEST_NULL;
#endif
};

PendingSum::PendingSum() = default;
PendingSum::PendingSum(PendingSum&&) noexcept = default;
PendingSum& PendingSum::operator=(PendingSum&& o) noexcept {
  if (this != &o) {
    try {
      wait();
    } catch (...) {
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}

PendingSum::~PendingSum() {
  try {
    wait();
  } catch (...) {  // a destructor must not throw; the job is failing anyway
  }
}

void PendingSum::wait() {
#if KILN_WITH_MPI
  if (impl_ && impl_->request != MPI_REQUEST_NULL) {
    const BlockedTimer timer;
    check_mpi(MPI_Wait(&impl_->request, MPI_STATUS_IGNORE), "MPI_Wait");
  }
#endif
  impl_.reset();
}

PendingSum start_allreduce_sum(float* data, std::int64_t n) {
  PendingSum p;
#if KILN_WITH_MPI
  if (!joined() || n == 0) return p;
  KILN_CHECK(n <= INT32_MAX, "MPI all-reduce of ", n, " values: more than one call can carry");
  p.impl_ = std::make_unique<PendingSum::Impl>();
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &p.impl_->request),
            "MPI_Iallreduce");
#else
  (void)data, (void)n;
#endif
  return p;
}

double seconds_in_collectives() { return g_blocked_seconds; }

}  // namespace kiln::kernels::comm
