#include "apps/cifar10/distributed.h"

#include "apps/cifar10/options.h"
#include "base/error.h"
#include "kernels/comm.h"

namespace kiln::app {

namespace comm = kernels::comm;

int job_size() { return comm::world().size; }
int job_rank() { return comm::world().rank; }
bool job_root() { return comm::is_root(); }

std::string describe_job() {
  return std::to_string(job_size()) + (job_size() == 1 ? " process" : " processes");
}

void check_batch_divides(std::int64_t batch_size) {
  if (batch_size % job_size() == 0) return;
  throw UsageError("--batch-size " + std::to_string(batch_size) + " does not divide over the " +
                   describe_job() + " of this job (it is the global batch, split evenly over " +
                   "the ranks): pass a multiple of " + std::to_string(job_size()));
}

namespace {

// Rank 0's contents into `t` on every rank; a GPU tensor goes through host memory.
void broadcast_tensor(Tensor& t) {
  if (t.device() == Device::CPU) {
    comm::broadcast(t.raw_data(), t.nbytes());
    return;
  }
  Tensor host = t.to(Device::CPU);
  comm::broadcast(host.raw_data(), host.nbytes());
  t.copy_from(host);
}

}  // namespace

void broadcast_parameters(Module& model) {
  if (job_size() == 1) return;
  for (Tensor& t : model.state()) broadcast_tensor(t);  // buffers too: every rank starts equal
}

void broadcast_optimizer_state(Adam& adam) {
  if (job_size() == 1) return;
  std::int64_t steps = adam.step_count();
  comm::broadcast(&steps, sizeof steps);
  adam.set_step_count(steps);
  const std::vector<Tensor>& params = adam.params();
  // Which moments exist (a parameter not updated yet has none) is rank 0's to say too.
  std::vector<std::uint8_t> has(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) has[i] = adam.first_moment(i).defined();
  comm::broadcast(has.data(), has.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!has[i]) {
      adam.set_moments(i, Tensor(), Tensor());
      continue;
    }
    const Tensor& p = params[i];
    Tensor m = Tensor::zeros(p.shape(), p.dtype()), v = Tensor::zeros(p.shape(), p.dtype());
    if (adam.first_moment(i).defined()) {
      m.copy_from(adam.first_moment(i));
      v.copy_from(adam.second_moment(i));
    }
    broadcast_tensor(m);
    broadcast_tensor(v);
    adam.set_moments(i, m, v);
  }
}

void derive_rank_stream(Generator& dropout) {
  if (job_rank() == 0) return;
  dropout.set_state(Generator(dropout.seed()).derive(static_cast<std::uint64_t>(job_rank())).seed(),
                    0);
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> gather_states(const Generator& g) {
  // A gather as a sum: each rank fills its own slot of a zeroed table. Unsigned values travel
  // as their int64 bit patterns; adding zeros cannot overflow.
  std::vector<std::int64_t> table(static_cast<std::size_t>(2 * job_size()), 0);
  table[2 * static_cast<std::size_t>(job_rank())] = static_cast<std::int64_t>(g.seed());
  table[2 * static_cast<std::size_t>(job_rank()) + 1] = static_cast<std::int64_t>(g.offset());
  comm::allreduce_sum(table.data(), static_cast<std::int64_t>(table.size()));
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (std::size_t r = 0; r < table.size(); r += 2) {
    out.emplace_back(static_cast<std::uint64_t>(table[r]),
                     static_cast<std::uint64_t>(table[r + 1]));
  }
  return out;
}

ImageDataset evaluation_shard(const ImageDataset& data) {
  if (job_size() == 1) return data;
  const std::int64_t n = data.n, r = job_rank(), world = job_size();
  std::vector<std::int64_t> indices;
  for (std::int64_t i = r * n / world; i < (r + 1) * n / world; ++i) indices.push_back(i);
  return data.subset(indices);
}

void sum_over_job(double* values, std::int64_t n) { comm::allreduce_sum(values, n); }
void sum_over_job(std::int64_t* values, std::int64_t n) { comm::allreduce_sum(values, n); }

}  // namespace kiln::app
