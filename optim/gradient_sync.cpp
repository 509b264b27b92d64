#include "optim/gradient_sync.h"

#include <algorithm>

#include "base/error.h"
#include "core/autograd.h"
#include "kernels/cuda_build.h"
#include "kernels/cuda_fill.h"
#include "kernels/elementwise.h"
#include "kernels/nccl.h"

namespace kiln {

namespace {
// dst = s * src on the device. A CPU-only build compiles no call to the kernel (none of its
// tensors can be on CUDA, so this is never reached there): kernels/cuda_build.h.
void scale_on_device(std::int64_t n, const float* src, float s, float* dst) {
  if constexpr (kernels::cuda::kCudaBuilt) {
    kernels::cuda::scale(n, src, s, dst);
  } else {
    KILN_FAIL("GradientSync: ", kernels::cuda::kNotBuiltReason);
  }
}
}  // namespace

GradientSync::GradientSync(std::vector<Tensor> params, std::size_t bucket_bytes, bool overlap,
                           Transport transport)
    : params_(std::move(params)),
      bucket_of_(params_.size()),
      offset_of_(params_.size()),
      overlap_(overlap) {
  KILN_CHECK(bucket_bytes > 0, "GradientSync: bucket_bytes must be positive");
  const Device device = params_.empty() ? Device::CPU : params_[0].device();
  // Backward reaches the last layer's parameters first: fill buckets from the back.
  for (std::size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    KILN_CHECK(p.dtype() == DType::Float32, "GradientSync: parameter ", k, " is ",
               dtype_name(p.dtype()), "; data-parallel training reduces float32 gradients");
    KILN_CHECK(p.device() == device, "GradientSync: parameter ", k, " is on ",
               device_name(p.device()), ", parameter 0 on ", device_name(device),
               "; all must be on one device");
    const auto n = static_cast<std::size_t>(p.numel());
    if (buckets_.empty() ||
        (!buckets_.back().params.empty() &&
         (static_cast<std::size_t>(buckets_.back().size) + n) * sizeof(float) > bucket_bytes)) {
      buckets_.emplace_back();
    }
    Bucket& b = buckets_.back();
    index_of_[p.impl()] = k;
    bucket_of_[k] = buckets_.size() - 1;
    offset_of_[k] = static_cast<std::size_t>(b.size);
    b.params.push_back(k);
    b.size += static_cast<std::int64_t>(n);
  }
  on_device_ = transport == Transport::Auto && device == Device::CUDA && kernels::nccl::enabled();
  for (Bucket& b : buckets_) {
    if (on_device_) {
      b.device_buffer = Tensor::empty({b.size}, DType::Float32, Device::CUDA);
    } else {
      b.buffer.resize(static_cast<std::size_t>(b.size));
    }
  }
}

void GradientSync::start(Bucket& b) {
  b.started = true;
  if (on_device_) {
    start_on_device(b);
  } else {
    start_on_host(b);
  }
}

void GradientSync::start_on_host(Bucket& b) {
  for (const std::size_t k : b.params) {
    const Tensor g = params_[k].grad();
    float* dst = b.buffer.data() + offset_of_[k];
    const auto n = static_cast<std::size_t>(params_[k].numel());
    if (!g.defined()) {
      std::fill(dst, dst + n, 0.f);
      continue;
    }
    const Tensor host = g.device() == Device::CPU ? g : g.to(Device::CPU);
    const float* src = host.data<float>();
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] * scale_;
  }
  b.sum = kernels::comm::start_allreduce_sum(b.buffer.data(), b.size);
}

// Everything below is queued on Kiln's stream, in order: the packing kernels, then NCCL's sum of
// the bucket, then (finish_on_device) the unpacking ones; the host never waits.
void GradientSync::start_on_device(Bucket& b) {
  float* buffer = b.device_buffer.device_data<float>();
  for (const std::size_t k : b.params) {
    Tensor g = params_[k].grad();
    float* dst = buffer + offset_of_[k];
    const std::int64_t n = params_[k].numel();
    if (!g.defined()) {
      kernels::cuda::fill_float(dst, n, 0.f);
      continue;
    }
    KILN_CHECK(g.device() == Device::CUDA, "GradientSync: parameter ", k, " is on cuda but its ",
               "gradient on ", device_name(g.device()));
    scale_on_device(n, g.device_data<float>(), scale_, dst);
  }
  kernels::nccl::allreduce_sum(buffer, b.size);
}

void GradientSync::finish_on_host(Bucket& b, float inverse) {
  b.sum.wait();
  for (const std::size_t k : b.params) {
    Tensor& p = params_[k];
    const auto n = static_cast<std::size_t>(p.numel());
    Tensor avg = Tensor::empty(p.shape());
    float* dst = avg.data<float>();
    const float* src = b.buffer.data() + offset_of_[k];
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] * inverse;
    if (p.grad().defined()) {
      Tensor g = p.grad();
      g.copy_from(avg);
    } else {
      p.set_grad(avg.to(p.device()));
    }
  }
}

void GradientSync::finish_on_device(Bucket& b, float inverse) {
  const float* buffer = b.device_buffer.device_data<float>();
  for (const std::size_t k : b.params) {
    Tensor& p = params_[k];
    Tensor g = p.grad().defined() ? p.grad() : Tensor::empty(p.shape(), DType::Float32, p.device());
    scale_on_device(p.numel(), buffer + offset_of_[k], inverse, g.device_data<float>());
    if (!p.grad().defined()) p.set_grad(g);
  }
}

void GradientSync::on_gradient(const Tensor& leaf) {
  // Parameters are found by identity: the hook sees every leaf backward reaches.
  const auto it = index_of_.find(leaf.impl());
  if (it == index_of_.end()) return;
  const std::size_t k = it->second;
  Bucket& b = buckets_[bucket_of_[k]];
  // The hook runs once per parameter per backward; a second call means a second backward.
  KILN_CHECK(!b.started, "GradientSync: parameter ", k, " got a second gradient after its ",
             "bucket's all-reduce started (two backward passes in one step?)");
  if (++b.ready == b.params.size() && overlap_) {
    start(b);
    ++started_early_;
  }
}

void GradientSync::backward(const Tensor& loss, std::int64_t local_count) {
  KILN_CHECK(local_count >= 0, "GradientSync: negative image count ", local_count);
  if (kernels::comm::world().size == 1) {
    loss.backward();
    return;
  }
  // Collective, on every rank before its first bucket: never from inside backward's hook.
  if (on_device_) kernels::nccl::init();
  std::int64_t global_count = local_count;
  kernels::comm::allreduce_sum(&global_count, 1);
  KILN_CHECK(global_count > 0, "GradientSync: no rank has an image in this step");
  scale_ = static_cast<float>(local_count);
  started_early_ = 0;
  for (Bucket& b : buckets_) {
    b.sum.wait();  // one left running by a backward that threw must not see its buffer repacked
    b.ready = 0;
    b.started = false;
  }
  {
    LeafGradientHook hook([this](const Tensor& leaf) { on_gradient(leaf); });
    loss.backward();
  }
  for (Bucket& b : buckets_) {
    if (!b.started) start(b);  // not overlapped, or a parameter got no gradient
  }
  const float inverse = 1.f / static_cast<float>(global_count);
  for (Bucket& b : buckets_) {
    if (on_device_) {
      finish_on_device(b, inverse);
    } else {
      finish_on_host(b, inverse);
    }
  }
}

}  // namespace kiln
