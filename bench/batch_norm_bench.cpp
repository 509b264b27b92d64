// Batch normalisation over NCHW channels, training step: the forward (the batch's statistics, the
// running averages' update, then y) and the backward with batch statistics (ggamma, gbeta, gx), at
// the output of each VGG16 block's last convolution (C = 64 at full size down to C = 512 at a
// sixteenth). CPU: Kiln's OpenMP kernels against the reference loops. GPU: Kiln's hand-written
// kernels (kernels/cuda/batch_norm.cu) against cudnnBatchNormalizationForwardTraining and
// cudnnBatchNormalizationBackward in CUDNN_BATCHNORM_SPATIAL mode, the backward fed the forward's
// saved mean and inverse deviation, as a training step would.
//
// Tolerances. Kiln agrees with the reference to a float ulp or two in every output (see
// tests/cuda/batch_norm_parity_test.cpp): 1e-6. cuDNN computes in float: its y and gx are off by
// float rounding of O(1) values, 1e-4; its ggamma and gbeta sum M float terms, whose rounding
// error grows with the magnitudes summed (about M / 2 here), so the bound is absolute,
// 1e-6 * M. (cuDNN's running variance is the unbiased one, Keras' and Kiln's the biased: not
// compared.)
//
// Work (the same for every version of a group): the minimum traffic. Forward: read x, write y;
// backward: read x and gy, write gx (the per-channel vectors are negligible). Kiln's statistics
// read x twice more (the mean, then the deviations from it), so its %ceiling counts that against
// it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/batch_norm.h"

#if KILN_WITH_CUDA
#include <cudnn.h>

#include "bench/support/cudnn_rival.h"
#include "bench/support/gpu.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#endif

namespace kiln::bench {
namespace {

constexpr double kEps = 1e-3;       // Keras' default, above cuDNN's CUDNN_BN_MIN_EPSILON
constexpr double kMomentum = 0.99;  // Keras' default; cuDNN's factor is 1 - momentum
constexpr double kKilnTol = 1e-6;
constexpr double kCudnnTol = 1e-4;

struct BatchNormCase {
  std::string name;  // "32px_b64/block1_conv2"
  std::int64_t n, c, hw;
  std::int64_t count() const { return n * c * hw; }
  std::int64_t m() const { return n * hw; }
};

// The last convolution of each block: its output feeds that block's (batch-normalised) pooling.
std::vector<BatchNormCase> cases(const Size& size) {
  std::vector<BatchNormCase> out;
  const std::vector<VggConv>& convs = vgg16_convs();
  for (std::size_t i = 0; i < convs.size(); ++i) {
    const std::string layer = convs[i].name;  // "block3_conv3"
    const std::string block = layer.substr(0, layer.find('_'));
    const bool last_of_block =
        i + 1 == convs.size() || std::string(convs[i + 1].name).rfind(block + "_", 0) != 0;
    if (!last_of_block) continue;
    const std::int64_t side = size.image / convs[i].hw_div;
    out.push_back({std::string(size.name) + "/" + layer, size.batch, convs[i].k, side * side});
  }
  return out;
}

Work forward_work(const BatchNormCase& c) { return {8.0 * c.count(), 0, Bound::Memory}; }
Work backward_work(const BatchNormCase& c) { return {12.0 * c.count(), 0, Bound::Memory}; }

// One training step's inputs and the reference's outputs.
struct Reference {
  std::vector<float> x, gy, gamma, beta;                    // x, gy (N,C,HW); gamma, beta (C)
  std::vector<float> mean, var, running_mean, running_var;  // (C); running ones after the step
  std::vector<float> y, gx, ggamma, gbeta;
  Reference(const BatchNormCase& c, std::uint64_t seed)
      : x(random_floats(c.count(), seed, -1.f, 3.f)),
        gy(random_floats(c.count(), seed + 1)),
        gamma(random_floats(c.c, seed + 2, 0.5f, 1.5f)),
        beta(random_floats(c.c, seed + 3)),
        mean(c.c),
        var(c.c),
        running_mean(c.c, 0.f),
        running_var(c.c, 1.f),
        y(c.count()),
        gx(c.count()),
        ggamma(c.c),
        gbeta(c.c) {
    namespace cpu = kernels::cpu;
    cpu::batch_norm_stats_reference<float>(c.n, c.c, c.hw, x.data(), mean.data(), var.data(),
                                           kMomentum, running_mean.data(), running_var.data());
    cpu::batch_norm_forward_reference<float>(c.n, c.c, c.hw, kEps, x.data(), mean.data(),
                                             var.data(), gamma.data(), beta.data(), y.data());
    cpu::batch_norm_backward_reference<float>(c.n, c.c, c.hw, kEps, true, x.data(), gy.data(),
                                              mean.data(), var.data(), gamma.data(), gx.data(),
                                              ggamma.data(), gbeta.data());
  }
};

// The CPU reference of the largest case takes about a second a pass on two cores: the CPU rows
// cover 32px at batch 64.
std::vector<BatchNormCase> cpu_cases() { return cases(vgg16_sizes().front()); }

void register_cpu(const BatchNormCase& c) {
  namespace cpu = kernels::cpu;
  const std::string fwd = "batchnorm_forward_train/" + c.name + "/cpu";
  const std::string bwd = "batchnorm_backward/" + c.name + "/cpu";
  benchmark::RegisterBenchmark((fwd + "/reference").c_str(), [c, fwd](benchmark::State& st) {
    const Reference ref(c, 1);
    std::vector<float> mean(c.c), var(c.c), rm(c.c, 0.f), rv(c.c, 1.f), y(c.count());
    run_cpu(st,
            [&] {
              cpu::batch_norm_stats_reference<float>(c.n, c.c, c.hw, ref.x.data(), mean.data(),
                                                     var.data(), kMomentum, rm.data(), rv.data());
              cpu::batch_norm_forward_reference<float>(c.n, c.c, c.hw, kEps, ref.x.data(),
                                                       mean.data(), var.data(), ref.gamma.data(),
                                                       ref.beta.data(), y.data());
            },
            forward_work(c), {fwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((fwd + "/kiln_openmp").c_str(), [c, fwd](benchmark::State& st) {
    const Reference ref(c, 2);
    std::vector<float> mean(c.c, -7.f), var(c.c, -7.f), rm(c.c, 0.f), rv(c.c, 1.f);
    std::vector<float> y(c.count(), -7.f);
    const auto step = [&] {
      cpu::batch_norm_stats_fast(c.n, c.c, c.hw, ref.x.data(), mean.data(), var.data(), kMomentum,
                                 rm.data(), rv.data());
      cpu::batch_norm_forward_fast(c.n, c.c, c.hw, kEps, ref.x.data(), mean.data(), var.data(),
                                   ref.gamma.data(), ref.beta.data(), y.data());
    };
    step();
    if (!verify(st, y, ref.y, 0, 0, "batch_norm_forward_fast y")) return;
    if (!verify(st, rv, ref.running_var, 0, 0, "batch_norm_stats_fast running var")) return;
    run_cpu(st, step, forward_work(c), {fwd, false});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/reference").c_str(), [c, bwd](benchmark::State& st) {
    const Reference ref(c, 3);
    std::vector<float> gx(c.count()), ggamma(c.c), gbeta(c.c);
    run_cpu(st,
            [&] {
              cpu::batch_norm_backward_reference<float>(
                  c.n, c.c, c.hw, kEps, true, ref.x.data(), ref.gy.data(), ref.mean.data(),
                  ref.var.data(), ref.gamma.data(), gx.data(), ggamma.data(), gbeta.data());
            },
            backward_work(c), {bwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/kiln_openmp").c_str(), [c, bwd](benchmark::State& st) {
    const Reference ref(c, 4);
    std::vector<float> gx(c.count(), -7.f), ggamma(c.c, -7.f), gbeta(c.c, -7.f);
    const auto step = [&] {
      cpu::batch_norm_backward_fast(c.n, c.c, c.hw, kEps, true, ref.x.data(), ref.gy.data(),
                                    ref.mean.data(), ref.var.data(), ref.gamma.data(), gx.data(),
                                    ggamma.data(), gbeta.data());
    };
    step();  // the same bits as the reference (kernels/batch_norm.h)
    if (!verify(st, gx, ref.gx, 0, 0, "batch_norm_backward_fast gx")) return;
    if (!verify(st, ggamma, ref.ggamma, 0, 0, "batch_norm_backward_fast ggamma")) return;
    run_cpu(st, step, backward_work(c), {bwd, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

std::vector<BatchNormCase> gpu_cases() {
  std::vector<BatchNormCase> out;
  for (const Size& size : vgg16_sizes())
    for (BatchNormCase& c : cases(size)) out.push_back(std::move(c));
  return out;
}

// cuDNN's spatial batch norm on the case's shapes, handle bound to Kiln's stream.
struct CudnnBatchNorm {
  CudnnNchw x, channel;  // x (N, C, HW, 1); channel (1, C, 1, 1) for every per-channel tensor
  explicit CudnnBatchNorm(const BatchNormCase& c) : x(c.n, c.c, c.hw, 1), channel(1, c.c, 1, 1) {}
  // The training forward: y, the running averages, and the saved mean and 1 / sqrt(var + eps).
  void forward(const float* xd, float* yd, const float* gamma, const float* beta, float* rm,
               float* rv, float* saved_mean, float* saved_invstd) const {
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        lease.cudnn(), CUDNN_BATCHNORM_SPATIAL, &kCudnnOne, &kCudnnZero, x.get(), xd, x.get(), yd,
        channel.get(), gamma, beta, 1.0 - kMomentum, rm, rv, kEps, saved_mean, saved_invstd));
  }
  void backward(const float* xd, const float* gy, float* gx, const float* gamma, float* ggamma,
                float* gbeta, const float* saved_mean, const float* saved_invstd) const {
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnBatchNormalizationBackward(lease.cudnn(), CUDNN_BATCHNORM_SPATIAL, &kCudnnOne,
                                                &kCudnnZero, &kCudnnOne, &kCudnnZero, x.get(), xd,
                                                x.get(), gy, x.get(), gx, channel.get(), gamma,
                                                ggamma, gbeta, kEps, saved_mean, saved_invstd));
  }
};

// The device copies of one step's inputs, and outputs pre-filled with a sentinel.
struct DeviceStep {
  gpu::Buffer<float> x, gy, gamma, beta, mean, var, running_mean, running_var;
  gpu::Buffer<float> y, gx, ggamma, gbeta;
  DeviceStep(const BatchNormCase& c, const Reference& ref)
      : x(ref.x),
        gy(ref.gy),
        gamma(ref.gamma),
        beta(ref.beta),
        mean(c.c, -7.f),
        var(c.c, -7.f),
        running_mean(c.c, 0.f),
        running_var(c.c, 1.f),
        y(c.count(), -7.f),
        gx(c.count(), -7.f),
        ggamma(c.c, -7.f),
        gbeta(c.c, -7.f) {}
};

void register_gpu(const BatchNormCase& c) {
  const std::string fwd = "batchnorm_forward_train/" + c.name + "/gpu";
  const std::string bwd = "batchnorm_backward/" + c.name + "/gpu";
  const double sum_tol = 1e-6 * static_cast<double>(c.m());
  benchmark::RegisterBenchmark((fwd + "/cudnn").c_str(), guarded([c, fwd](benchmark::State& st) {
                                 const Reference ref(c, 11);
                                 DeviceStep d(c, ref);
                                 const CudnnBatchNorm bn(c);
                                 const auto step = [&] {
                                   bn.forward(d.x.get(), d.y.get(), d.gamma.get(), d.beta.get(),
                                              d.running_mean.get(), d.running_var.get(),
                                              d.mean.get(), d.var.get());
                                 };
                                 step();
                                 if (!verify(st, d.y.download(), ref.y, kCudnnTol, kCudnnTol,
                                             "cudnnBatchNormalizationForwardTraining y"))
                                   return;
                                 if (!verify(st, d.mean.download(), ref.mean, kCudnnTol, kCudnnTol,
                                             "cudnnBatchNormalizationForwardTraining saved mean"))
                                   return;
                                 gpu::run(st, step, forward_work(c), {fwd, true});
                               }))
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (fwd + "/kiln").c_str(), guarded([c, fwd](benchmark::State& st) {
        const Reference ref(c, 12);
        DeviceStep d(c, ref);
        const auto step = [&] {
          cuda::batch_norm_stats(c.n, c.c, c.hw, d.x.get(), d.mean.get(), d.var.get(), kMomentum,
                                 d.running_mean.get(), d.running_var.get());
          cuda::batch_norm_forward(c.n, c.c, c.hw, kEps, d.x.get(), d.mean.get(), d.var.get(),
                                   d.gamma.get(), d.beta.get(), d.y.get());
        };
        step();
        if (!verify(st, d.y.download(), ref.y, kKilnTol, kKilnTol, "cuda::batch_norm_forward y"))
          return;
        if (!verify(st, d.var.download(), ref.var, kKilnTol, kKilnTol,
                    "cuda::batch_norm_stats var"))
          return;
        if (!verify(st, d.running_var.download(), ref.running_var, kKilnTol, kKilnTol,
                    "cuda::batch_norm_stats running var"))
          return;
        gpu::run(st, step, forward_work(c), {fwd, false});
      }))
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/cudnn").c_str(), guarded([c, bwd, sum_tol](benchmark::State& st) {
        const Reference ref(c, 13);
        DeviceStep d(c, ref);
        const CudnnBatchNorm bn(c);
        // d.mean and d.var receive cuDNN's saved mean and inverse deviation.
        bn.forward(d.x.get(), d.y.get(), d.gamma.get(), d.beta.get(), d.running_mean.get(),
                   d.running_var.get(), d.mean.get(), d.var.get());
        const auto step = [&] {
          bn.backward(d.x.get(), d.gy.get(), d.gx.get(), d.gamma.get(), d.ggamma.get(),
                      d.gbeta.get(), d.mean.get(), d.var.get());
        };
        step();
        if (!verify(st, d.gx.download(), ref.gx, kCudnnTol, kCudnnTol,
                    "cudnnBatchNormalizationBackward gx"))
          return;
        if (!verify(st, d.ggamma.download(), ref.ggamma, 0, sum_tol,
                    "cudnnBatchNormalizationBackward ggamma"))
          return;
        if (!verify(st, d.gbeta.download(), ref.gbeta, 0, sum_tol,
                    "cudnnBatchNormalizationBackward gbeta"))
          return;
        gpu::run(st, step, backward_work(c), {bwd, true});
      }))
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/kiln").c_str(), guarded([c, bwd](benchmark::State& st) {
        const Reference ref(c, 14);
        DeviceStep d(c, ref);
        const gpu::Buffer<float> mean(ref.mean), var(ref.var);  // the reference's statistics
        const auto step = [&] {
          cuda::batch_norm_backward(c.n, c.c, c.hw, kEps, true, d.x.get(), d.gy.get(), mean.get(),
                                    var.get(), d.gamma.get(), d.gx.get(), d.ggamma.get(),
                                    d.gbeta.get());
        };
        step();
        if (!verify(st, d.gx.download(), ref.gx, kKilnTol, kKilnTol,
                    "cuda::batch_norm_backward gx"))
          return;
        if (!verify(st, d.ggamma.download(), ref.ggamma, kKilnTol, kKilnTol,
                    "cuda::batch_norm_backward ggamma"))
          return;
        if (!verify(st, d.gbeta.download(), ref.gbeta, kKilnTol, kKilnTol,
                    "cuda::batch_norm_backward gbeta"))
          return;
        gpu::run(st, step, backward_work(c), {bwd, false});
      }))
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  for (const BatchNormCase& c : cpu_cases()) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const BatchNormCase& c : gpu_cases()) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
