// cifar10's side of data-parallel training (docs/distributed.md): what train and evaluate do
// differently when mpirun started N > 1 copies. Every rank runs the same command on the same
// files; rank 0 alone prints and writes. With N == 1 every function here is a no-op (or the
// identity), so a run without mpirun is exactly the single-process program.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/random.h"
#include "data/dataset.h"
#include "layers/module.h"
#include "optim/adam.h"

namespace kiln::app {

int job_size();  // N: 1 without mpirun
int job_rank();
bool job_root();  // rank 0: prints, writes best/last/history

// --batch-size is the GLOBAL batch: a UsageError naming it and N unless N divides it.
void check_batch_divides(std::int64_t batch_size);

// Every rank takes rank 0's parameters (all of them, frozen ones too) and buffers (BatchNorm's
// moving statistics), so all start alike whatever each one read from disk.
void broadcast_parameters(Module& model);
// Rank 0's step count and Adam moments (resume), likewise.
void broadcast_optimizer_state(Adam& adam);

// Dropout's stream for this rank, from the one the model was built with: rank 0 keeps it (so a
// world of one draws exactly what the single-process program draws), rank r > 0 takes
// derive(r) of its seed, so ranks drop different units and a run repeats for a given N.
void derive_rank_stream(Generator& dropout);
// Every rank's generator state, in rank order (the same on every rank). For the checkpoint.
std::vector<std::pair<std::uint64_t, std::uint64_t>> gather_states(const Generator& g);

// Rank r's contiguous share of `data` for evaluation: images [r*n/N, (r+1)*n/N), so every image
// is evaluated exactly once across the job.
ImageDataset evaluation_shard(const ImageDataset& data);

// Sums across ranks, in place (identical bits on every rank).
void sum_over_job(double* values, std::int64_t n);
void sum_over_job(std::int64_t* values, std::int64_t n);

// "2 processes", for messages.
std::string describe_job();

}  // namespace kiln::app
