// Fused softmax + cross-entropy with integer labels, forward (probs and the mean loss) and
// backward (glogits = (probs - onehot) / N), at CIFAR's 10 and ImageNet's 1000 classes for the
// batches of VGG16's sizes (64, 256, 16). CPU: Kiln's OpenMP kernels against the reference loops.
// GPU: Kiln's fused kernels (kernels/cuda/loss.cu) against what a cuDNN user would write:
// cudnnSoftmaxForward(LOG, INSTANCE) and a small negative-log-likelihood kernel for the mean loss
// (bench/support/rival_kernels.h); backward, the NLL gradient kernel then cudnnSoftmaxBackward.
//
// Both forwards return the loss to the host (Kiln's API does, and syncs), so both timings include
// that copy and wait. At these sizes every version is a few microseconds: launch latency, not
// bandwidth, is what the rows compare.
//
// Tolerances. CPU fast vs reference: the same float operations per row, only the row losses are
// added in another order (double), so probs and glogits are held to 0 and the loss (compared as
// floats) to 1e-6.
// Kiln's GPU forward vs the reference: CUDA's expf vs glibc's, 2e-6 relative on probs and the loss,
// as tests/cuda/loss_optim_parity_test.cpp explains; its backward is bitwise given the same probs.
// cuDNN's log-probabilities vs a double log-softmax: a few float roundings of the row's
// log-sum-exp, so 1e-5 absolute (|log p| < 20 here); its glogits come from exp(log p), which
// carries that as relative error: 1e-5 relative.
//
// Work: forward reads logits and labels, writes probs and the loss; backward reads probs and
// labels, writes glogits. cuDNN's versions move more (log p written and re-read, dlogp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/loss.h"

#if KILN_WITH_CUDA
#include <cudnn.h>

#include "bench/support/gpu.h"
#include "bench/support/rival_kernels.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device_memory.h"
#endif

namespace kiln::bench {
namespace {

struct XentCase {
  std::string name;   // "imagenet_k1000_b64"
  std::int64_t n, k;  // logits (N, K)
  std::int64_t count() const { return n * k; }
};

std::vector<XentCase> cases() {
  std::vector<XentCase> out;
  for (const auto& [dataset, k] :
       {std::pair<const char*, std::int64_t>{"cifar", 10}, {"imagenet", 1000}}) {
    for (const Size& size : vgg16_sizes()) {
      out.push_back(
          {std::string(dataset) + "_k" + std::to_string(k) + "_b" + std::to_string(size.batch),
           size.batch, k});
    }
  }
  return out;
}

Work forward_work(const XentCase& c) { return {8.0 * c.count() + 4.0 * c.n + 8, 0, Bound::Memory}; }
Work backward_work(const XentCase& c) { return {8.0 * c.count() + 4.0 * c.n, 0, Bound::Memory}; }

// Logits uniform in [-4, 4): spread enough that the max shift and the normalisation matter.
std::vector<float> logits_for(const XentCase& c, std::uint64_t seed) {
  return random_floats(c.count(), seed, -4.f, 4.f);
}
std::vector<std::int32_t> labels_for(const XentCase& c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> dist(0, static_cast<std::int32_t>(c.k - 1));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(c.n));
  for (std::int32_t& l : labels) l = dist(rng);
  return labels;
}

// The reference forward and backward for one input.
struct Reference {
  std::vector<float> logits, probs, glogits;  // (N, K)
  std::vector<std::int32_t> labels;           // (N)
  double loss = 0;
  float scale = 0;  // 1 / N: the mean's gradient
  Reference(const XentCase& c, std::uint64_t seed)
      : logits(logits_for(c, seed)),
        probs(c.count()),
        glogits(c.count()),
        labels(labels_for(c, seed + 1000)),
        scale(1.f / static_cast<float>(c.n)) {
    loss = kernels::cpu::softmax_cross_entropy_forward_reference<float>(
        c.n, c.k, logits.data(), labels.data(), nullptr, probs.data());
    kernels::cpu::softmax_cross_entropy_backward_reference<float>(
        c.n, c.k, probs.data(), labels.data(), nullptr, scale, glogits.data());
  }
};

void register_cpu(const XentCase& c) {
  namespace cpu = kernels::cpu;
  const std::string fwd = "softmax_xent_forward/" + c.name + "/cpu";
  const std::string bwd = "softmax_xent_backward/" + c.name + "/cpu";
  benchmark::RegisterBenchmark((fwd + "/reference").c_str(), [c, fwd](benchmark::State& st) {
    const Reference ref(c, 1);
    std::vector<float> probs(c.count());
    run_cpu(st,
            [&] {
              benchmark::DoNotOptimize(cpu::softmax_cross_entropy_forward_reference<float>(
                  c.n, c.k, ref.logits.data(), ref.labels.data(), nullptr, probs.data()));
            },
            forward_work(c), {fwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((fwd + "/kiln_openmp").c_str(), [c, fwd](benchmark::State& st) {
    const Reference ref(c, 2);
    std::vector<float> probs(c.count(), -7.f);
    const double loss = cpu::softmax_cross_entropy_forward_fast(
        c.n, c.k, ref.logits.data(), ref.labels.data(), nullptr, probs.data());
    if (!verify(st, probs, ref.probs, 0, 0, "softmax_cross_entropy_forward_fast probs")) return;
    if (!verify(st, {static_cast<float>(loss)}, {static_cast<float>(ref.loss)}, 1e-6, 0,
                "softmax_cross_entropy_forward_fast loss"))
      return;
    run_cpu(st,
            [&] {
              benchmark::DoNotOptimize(cpu::softmax_cross_entropy_forward_fast(
                  c.n, c.k, ref.logits.data(), ref.labels.data(), nullptr, probs.data()));
            },
            forward_work(c), {fwd, false});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/reference").c_str(), [c, bwd](benchmark::State& st) {
    const Reference ref(c, 3);
    std::vector<float> glogits(c.count());
    run_cpu(st,
            [&] {
              cpu::softmax_cross_entropy_backward_reference<float>(c.n, c.k, ref.probs.data(),
                                                                   ref.labels.data(), nullptr,
                                                                   ref.scale, glogits.data());
            },
            backward_work(c), {bwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/kiln_openmp").c_str(), [c, bwd](benchmark::State& st) {
    const Reference ref(c, 4);
    std::vector<float> glogits(c.count(), -7.f);
    const auto backward = [&] {
      cpu::softmax_cross_entropy_backward_fast(c.n, c.k, ref.probs.data(), ref.labels.data(),
                                               nullptr, ref.scale, glogits.data());
    };
    backward();
    if (!verify(st, glogits, ref.glogits, 0, 0, "softmax_cross_entropy_backward_fast")) return;
    run_cpu(st, backward, backward_work(c), {bwd, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

// log p (N, K) = log_softmax(logits) in double: the reference for cuDNN's LOG mode.
std::vector<float> log_softmax(const XentCase& c, const std::vector<float>& logits) {
  std::vector<float> out(logits.size());
  for (std::int64_t i = 0; i < c.n; ++i) {
    const float* row = logits.data() + i * c.k;
    double max = row[0], sum = 0;
    for (std::int64_t j = 1; j < c.k; ++j) max = std::max(max, static_cast<double>(row[j]));
    for (std::int64_t j = 0; j < c.k; ++j) sum += std::exp(row[j] - max);
    for (std::int64_t j = 0; j < c.k; ++j)
      out[i * c.k + j] = static_cast<float>(row[j] - max - std::log(sum));
  }
  return out;
}

// The cuDNN user's loss: cudnnSoftmaxForward/Backward in LOG mode over each row, (N, K, 1, 1),
// with the NLL kernels around them. Handle bound to Kiln's stream.
struct CudnnXent {
  const XentCase c;
  cudnnTensorDescriptor_t desc = nullptr;
  explicit CudnnXent(const XentCase& xc) : c(xc) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                           static_cast<int>(c.n), static_cast<int>(c.k), 1, 1));
  }
  ~CudnnXent() { cudnnDestroyTensorDescriptor(desc); }
  // logp = log_softmax(logits); returns the mean NLL, copied to the host (waits for the stream).
  double forward(const float* logits, const std::int32_t* labels, float* logp,
                 double* loss_dev) const {
    const float one = 1.f, zero = 0.f;
    {
      cuda::DeviceLease lease;
      CUDNN_CHECK(cudnnSoftmaxForward(lease.cudnn(), CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_INSTANCE,
                                      &one, desc, logits, &zero, desc, logp));
    }
    rival::nll_mean(c.n, c.k, logp, labels, loss_dev);
    double loss = 0;
    cuda::copy_device_to_host(&loss, loss_dev, sizeof loss);
    return loss;
  }
  // glogits = d(mean NLL)/d(logits), through dlogp = -1/N at the labels.
  void backward(const float* logp, const std::int32_t* labels, float scale, float* dlogp,
                float* glogits) const {
    rival::nll_backward(c.n, c.k, labels, scale, dlogp);
    const float one = 1.f, zero = 0.f;
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnSoftmaxBackward(lease.cudnn(), CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_INSTANCE,
                                     &one, desc, logp, desc, dlogp, &zero, desc, glogits));
  }
};

void register_gpu(const XentCase& c) {
  const std::string fwd = "softmax_xent_forward/" + c.name + "/gpu";
  const std::string bwd = "softmax_xent_backward/" + c.name + "/gpu";
  benchmark::RegisterBenchmark(
      (fwd + "/cudnn").c_str(),
      [c, fwd](benchmark::State& st) {
        const Reference ref(c, 11);
        gpu::Buffer<float> logits_dev(ref.logits), logp_dev(c.count(), -7.f);
        gpu::Buffer<std::int32_t> labels_dev(ref.labels);
        gpu::Buffer<double> loss_dev(1, -7.0);
        const CudnnXent xent(c);
        const double loss =
            xent.forward(logits_dev.get(), labels_dev.get(), logp_dev.get(), loss_dev.get());
        if (!verify(st, logp_dev.download(), log_softmax(c, ref.logits), 0, 1e-5,
                    "cudnnSoftmaxForward log p"))
          return;
        if (!verify(st, {static_cast<float>(loss)}, {static_cast<float>(ref.loss)}, 1e-5, 1e-5,
                    "cudnnSoftmaxForward + NLL loss"))
          return;
        gpu::run(st,
                 [&] {
                   benchmark::DoNotOptimize(xent.forward(logits_dev.get(), labels_dev.get(),
                                                         logp_dev.get(), loss_dev.get()));
                 },
                 forward_work(c), {fwd, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (fwd + "/kiln").c_str(),
      [c, fwd](benchmark::State& st) {
        const Reference ref(c, 12);
        gpu::Buffer<float> logits_dev(ref.logits), probs_dev(c.count(), -7.f);
        gpu::Buffer<std::int32_t> labels_dev(ref.labels);
        const double loss = cuda::softmax_cross_entropy_forward(
            c.n, c.k, logits_dev.get(), labels_dev.get(), nullptr, probs_dev.get());
        if (!verify(st, probs_dev.download(), ref.probs, 2e-6, 1e-37,
                    "cuda::softmax_cross_entropy_forward probs"))
          return;
        if (!verify(st, {static_cast<float>(loss)}, {static_cast<float>(ref.loss)}, 2e-6, 2e-6,
                    "cuda::softmax_cross_entropy_forward loss"))
          return;
        gpu::run(st,
                 [&] {
                   benchmark::DoNotOptimize(cuda::softmax_cross_entropy_forward(
                       c.n, c.k, logits_dev.get(), labels_dev.get(), nullptr, probs_dev.get()));
                 },
                 forward_work(c), {fwd, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/cudnn").c_str(),
      [c, bwd](benchmark::State& st) {
        const Reference ref(c, 13);
        gpu::Buffer<float> logp_dev(log_softmax(c, ref.logits)), dlogp_dev(c.count(), -7.f),
            glogits_dev(c.count(), -7.f);
        gpu::Buffer<std::int32_t> labels_dev(ref.labels);
        const CudnnXent xent(c);
        xent.backward(logp_dev.get(), labels_dev.get(), ref.scale, dlogp_dev.get(),
                      glogits_dev.get());
        // Absolute slack too: cuDNN forms the label entry as exp(logp)/N - 1/N, so where p is near
        // 1 a float-rounding error in logp becomes a large RELATIVE error of that small difference.
        if (!verify(st, glogits_dev.download(), ref.glogits, 1e-5, 1e-6 / static_cast<double>(c.n),
                    "cudnnSoftmaxBackward"))
          return;
        gpu::run(st,
                 [&] {
                   xent.backward(logp_dev.get(), labels_dev.get(), ref.scale, dlogp_dev.get(),
                                 glogits_dev.get());
                 },
                 backward_work(c), {bwd, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/kiln").c_str(),
      [c, bwd](benchmark::State& st) {
        const Reference ref(c, 14);
        gpu::Buffer<float> probs_dev(ref.probs), glogits_dev(c.count(), -7.f);
        gpu::Buffer<std::int32_t> labels_dev(ref.labels);
        const auto backward = [&] {
          cuda::softmax_cross_entropy_backward(c.n, c.k, probs_dev.get(), labels_dev.get(), nullptr,
                                               ref.scale, glogits_dev.get());
        };
        backward();
        if (!verify(st, glogits_dev.download(), ref.glogits, 0, 0,
                    "cuda::softmax_cross_entropy_backward"))
          return;
        gpu::run(st, backward, backward_work(c), {bwd, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  for (const XentCase& c : cases()) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const XentCase& c : cases()) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
