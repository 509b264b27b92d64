// GradientSync: data-parallel training's gradient averaging, DDP's design over kernels/comm.h.
// The parameters are grouped into buckets of about 4 MiB, in reverse order (the order backward
// produces their gradients); as soon as backward has written every gradient of a bucket, the
// bucket is packed and its all-reduce started, so communication overlaps the rest of backward.
// After backward the buckets are awaited in order and unpacked, each rank then holding
//     sum_r(count_r * grad_r) / sum_r(count_r),
// the gradient of the mean loss over the whole global batch when rank r's loss is the mean over
// its count_r images: the same step a single process takes on the whole batch, up to the order
// of the sums. In a world of one, backward() is loss.backward() and nothing else.
//
// Every rank must build it from the same parameter list (same shapes, same order) and call
// backward() the same number of times. A parameter backward left without a gradient counts as
// zero. Where the parameters live on the GPU and the build has NCCL, each bucket is packed (and
// scaled by the local count) on the device, all-reduced by NCCL on Kiln's stream and unpacked
// there, with no host round trip and no host wait (kernels/nccl.h; the rank's GPU must have been
// chosen with nccl::select_device() before the model went there). Otherwise, and always for
// Transport::Host, gradients are staged through host memory and reduced by MPI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "kernels/comm.h"

namespace kiln {

class GradientSync {
 public:
  static constexpr std::size_t kDefaultBucketBytes = std::size_t{4} << 20;

  // How the buckets travel. Auto: NCCL on the device for GPU parameters when the build has it,
  // else Host: through host memory and MPI (the reference the GPU tests compare NCCL with).
  enum class Transport { Auto, Host };

  // overlap false: every bucket is reduced after backward (the reference the tests compare with).
  // Every parameter must be on one device.
  explicit GradientSync(std::vector<Tensor> params, std::size_t bucket_bytes = kDefaultBucketBytes,
                        bool overlap = true, Transport transport = Transport::Auto);

  // Runs loss.backward() and averages the parameters' gradients over the world, weighted by each
  // rank's local_count (>= 0; the global count must be positive).
  void backward(const Tensor& loss, std::int64_t local_count);

  std::size_t bucket_count() const { return buckets_.size(); }
  // Buckets whose all-reduce started before backward returned, in the last backward().
  std::size_t buckets_started_early() const { return started_early_; }
  // Whether the buckets are packed, reduced (NCCL) and unpacked on the GPU.
  bool reduces_on_device() const { return on_device_; }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::int64_t size = 0;            // floats packed: the sum of its parameters' numel
    std::vector<float> buffer;        // (size) the packed gradients times the local count: host
    Tensor device_buffer;             // (size) the same on the GPU, for the NCCL path
    std::size_t ready = 0;
    bool started = false;
    kernels::comm::PendingSum sum;  // while started and not yet awaited
  };
  void on_gradient(const Tensor& leaf);
  void start(Bucket& b);
  void start_on_host(Bucket& b);
  void start_on_device(Bucket& b);
  void finish_on_host(Bucket& b, float inverse);
  void finish_on_device(Bucket& b, float inverse);

  std::vector<Tensor> params_;
  std::vector<std::size_t> bucket_of_;  // params_[i]'s bucket
  std::vector<std::size_t> offset_of_;  // its first value in the bucket's buffer
  std::unordered_map<const TensorImpl*, std::size_t> index_of_;  // a parameter's index
  std::vector<Bucket> buckets_;
  bool overlap_;
  bool on_device_ = false;  // the NCCL path (reduces_on_device)
  float scale_ = 1;         // this step's local count
  std::size_t started_early_ = 0;
};

}  // namespace kiln
