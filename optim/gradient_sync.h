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
// zero. Gradients on the GPU are staged through host memory (a NCCL path on the device is the
// next step; docs/distributed.md).
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

  // overlap false: every bucket is reduced after backward (the reference the tests compare with).
  explicit GradientSync(std::vector<Tensor> params, std::size_t bucket_bytes = kDefaultBucketBytes,
                        bool overlap = true);

  // Runs loss.backward() and averages the parameters' gradients over the world, weighted by each
  // rank's local_count (>= 0; the global count must be positive).
  void backward(const Tensor& loss, std::int64_t local_count);

  std::size_t bucket_count() const { return buckets_.size(); }
  // Buckets whose all-reduce started before backward returned, in the last backward().
  std::size_t buckets_started_early() const { return started_early_; }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::vector<float> buffer;        // the packed gradients, times the local count
    std::size_t ready = 0;
    bool started = false;
    kernels::comm::PendingSum sum;  // while started and not yet awaited
  };
  void on_gradient(const Tensor& leaf);
  void start(Bucket& b);

  std::vector<Tensor> params_;
  std::vector<std::size_t> bucket_of_;  // params_[i]'s bucket
  std::vector<std::size_t> offset_of_;  // its first value in the bucket's buffer
  std::unordered_map<const TensorImpl*, std::size_t> index_of_;  // a parameter's index
  std::vector<Bucket> buckets_;
  bool overlap_;
  float scale_ = 1;  // this step's local count
  std::size_t started_early_ = 0;
};

}  // namespace kiln
