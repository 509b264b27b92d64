// The process group of a data-parallel job (docs/distributed.md): Open MPI starts the processes
// and carries the CPU backend's collectives; the CUDA backend's gradients go over NCCL,
// bootstrapped through MPI (kernels/nccl.h). This header includes nothing from MPI. A process not
// started by an MPI launcher is a world of one, whatever the build, and every collective is then
// a no-op, so single-process code calls them unconditionally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace kiln::kernels::comm {

struct World {
  int rank = 0, size = 1;
  int local_rank = 0;  // on this host: which GPU the rank takes
};

// Whether this build has MPI (Open MPI from Debian, found by CMake).
bool built_with_mpi();
// The world size an MPI launcher announced in the environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_SIZE...); 1 when there is none.
int launcher_world_size();

// Joins the job: MPI_Init when a launcher started more than one process (a kiln::Error saying
// the build has no MPI when it cannot), nothing otherwise. Call once, first thing in main.
void init(int* argc, char*** argv);
const World& world();
bool is_root();  // rank 0: the one rank that prints and writes files
// Leaves the job (the NCCL communicator, then MPI_Finalize after init). Idempotent.
void finalize();
// Ends EVERY rank of the job with `code` (MPI_Abort), so one rank's failure is never a hang;
// exits the process when there is no job.
[[noreturn]] void abort_job(int code);

// Collectives over the world, in host memory, blocking. Sums are elementwise and in place; every
// rank gets the same bits (MPI reduces in one fixed order per call for a given world size).
void allreduce_sum(float* data, std::int64_t n);
void allreduce_sum(double* data, std::int64_t n);
void allreduce_sum(std::int64_t* data, std::int64_t n);
void broadcast(void* data, std::size_t bytes, int root = 0);

// A non-blocking sum in place (MPI_Iallreduce): `data` must stay alive and untouched until wait().
class PendingSum {
 public:
  PendingSum();
  ~PendingSum();  // waits, if still pending; never throws
  PendingSum(PendingSum&&) noexcept;
  PendingSum& operator=(PendingSum&&) noexcept;
  void wait();

 private:
  friend PendingSum start_allreduce_sum(float* data, std::int64_t n);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
PendingSum start_allreduce_sum(float* data, std::int64_t n);

// Seconds this process has spent blocked in MPI (all-reduce, broadcast, waiting on a pending
// sum) since it started: communication plus waiting for slower ranks. 0 in a world of one.
double seconds_in_collectives();

}  // namespace kiln::kernels::comm
