// The GPU side of a data-parallel job (docs/distributed.md): one GPU per rank and a NCCL
// communicator over the world of kernels/comm.h, bootstrapped through it (rank 0's ncclUniqueId is
// broadcast over MPI). NCCL's all-reduce is queued on Kiln's stream, so it is ordered with the
// kernels that produce and consume its buffer and needs no event. This header includes nothing
// from CUDA or NCCL. In a world of one there is no communicator and every call here is a no-op.
//
// Collective calls (init, allreduce_sum) must be made by every rank, in the same order, with the
// same sizes, as MPI's are.
#pragma once

#include <cstdint>

namespace kiln::kernels::nccl {

// Whether this build has NCCL (KILN_WITH_NCCL: the CUDA backend, nccl.h, libnccl and MPI).
bool built_with_nccl();
// Whether device gradients go over NCCL: built with it and a world of more than one rank.
bool enabled();

// Makes this rank's GPU the calling thread's current device: local_rank % device_count, so the
// ranks on one host take different GPUs (NCCL refuses two ranks on one GPU). Returns it. Call it on
// the thread that trains, before anything is put on the GPU: tensors already there stay on the
// device that was current. Throws kiln::Error without a device (or without the CUDA backend).
int select_device();

// Creates the world's communicator on the current device: rank 0 calls ncclGetUniqueId, MPI
// broadcasts it, every rank calls ncclCommInitRank. Collective and idempotent; a no-op in a world
// of one. A failed NCCL call throws kiln::Error naming it, with NCCL's own message.
void init();

// data[0..n) = its sum over the world, in place. requires: data is device memory on the current
// device holding n floats, and it is written by work queued on Kiln's stream. Queued on Kiln's
// stream and returns before it completes; work queued there later sees the sum. Calls init()
// first if it has not been (so the first call is collective in that way too). A no-op in a world
// of one or for n == 0. On a failed call the communicator is aborted (it cannot be used again)
// and kiln::Error names the call.
void allreduce_sum(float* data, std::int64_t n);

// Destroys the communicator (ncclCommDestroy), after Kiln's stream has finished with it. Called by
// comm::finalize() before MPI goes; idempotent; never throws (it reports on stderr).
void finalize() noexcept;
// Aborts the communicator (ncclCommAbort), releasing operations that wait for a peer that will
// never come: comm::abort_job() calls it before MPI_Abort. Never throws.
void abort() noexcept;

}  // namespace kiln::kernels::nccl
