// ReLU forward and backward over VGG16's activations. CPU: Kiln's OpenMP kernel against the
// reference loop. GPU: Kiln's hand-written kernels against cudnnActivationForward/Backward.
// Memory-bound: %ceiling is against the measured copy bandwidth.
#include <string>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/elementwise.h"

#if KILN_WITH_CUDA
#include <cudnn.h>

#include "bench/support/cudnn_rival.h"
#include "bench/support/gpu.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#endif

namespace kiln::bench {
namespace {

struct ReluCase {
  std::string name;       // "32px_b64/block1_conv2"
  std::int64_t n, c, hw;  // the activation (N, C, HW, HW)
  std::int64_t count() const { return n * c * hw * hw; }
};

std::vector<ReluCase> cases() {
  std::vector<ReluCase> out;
  for (const Size& size : vgg16_sizes()) {
    for (const VggConv& conv : vgg16_convs()) {
      const std::string layer = conv.name;
      if (layer != "block1_conv2" && layer != "block3_conv3" && layer != "block5_conv3") continue;
      out.push_back(
          {std::string(size.name) + "/" + layer, size.batch, conv.k, size.image / conv.hw_div});
    }
  }
  return out;
}

// forward reads x, writes y; backward reads y and gy, writes gx.
Work forward_work(const ReluCase& c) { return {8.0 * c.count(), 0, Bound::Memory}; }
Work backward_work(const ReluCase& c) { return {12.0 * c.count(), 0, Bound::Memory}; }

void register_cpu(const ReluCase& c) {
  const std::string fwd = "relu_forward/" + c.name + "/cpu",
                    bwd = "relu_backward/" + c.name + "/cpu";
  benchmark::RegisterBenchmark((fwd + "/reference").c_str(), [c, fwd](benchmark::State& st) {
    const std::vector<float> x = random_floats(c.count(), 1);
    std::vector<float> y(x.size());
    run_cpu(st, [&] { kernels::cpu::relu_forward_reference<float>(c.count(), x.data(), y.data()); },
            forward_work(c), {fwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((fwd + "/kiln_openmp").c_str(), [c, fwd](benchmark::State& st) {
    const std::vector<float> x = random_floats(c.count(), 2);
    std::vector<float> ref(x.size()), y(x.size(), -7.f);
    kernels::cpu::relu_forward_reference<float>(c.count(), x.data(), ref.data());
    kernels::cpu::relu_forward_fast(c.count(), x.data(), y.data());
    if (!verify(st, y, ref, 0, 0, "relu forward (OpenMP)")) return;
    run_cpu(st, [&] { kernels::cpu::relu_forward_fast(c.count(), x.data(), y.data()); },
            forward_work(c), {fwd, false});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/reference").c_str(), [c, bwd](benchmark::State& st) {
    const std::vector<float> y = random_floats(c.count(), 3, -1, 1),
                             gy = random_floats(c.count(), 4);
    std::vector<float> gx(y.size());
    run_cpu(st,
            [&] {
              kernels::cpu::relu_backward_reference<float>(c.count(), y.data(), gy.data(),
                                                           gx.data());
            },
            backward_work(c), {bwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/kiln_openmp").c_str(), [c, bwd](benchmark::State& st) {
    const std::vector<float> y = random_floats(c.count(), 5), gy = random_floats(c.count(), 6);
    std::vector<float> ref(y.size()), gx(y.size(), -7.f);
    kernels::cpu::relu_backward_reference<float>(c.count(), y.data(), gy.data(), ref.data());
    kernels::cpu::relu_backward_fast(c.count(), y.data(), gy.data(), gx.data());
    if (!verify(st, gx, ref, 0, 0, "relu backward (OpenMP)")) return;
    run_cpu(st,
            [&] { kernels::cpu::relu_backward_fast(c.count(), y.data(), gy.data(), gx.data()); },
            backward_work(c), {bwd, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

// cuDNN's ReLU on the activation's own NCHW shape, with its handle bound to Kiln's stream.
struct CudnnRelu {
  CudnnNchw t;  // x, y, gy and gx alike
  cudnnActivationDescriptor_t act = nullptr;
  explicit CudnnRelu(const ReluCase& c) : t(c.n, c.c, c.hw, c.hw) {
    CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
    CUDNN_CHECK(
        cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  }
  ~CudnnRelu() { cudnnDestroyActivationDescriptor(act); }
  void forward(const float* x, float* y) const {
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnActivationForward(lease.cudnn(), act, &kCudnnOne, t.get(), x, &kCudnnZero,
                                       t.get(), y));
  }
  void backward(const float* y, const float* gy, const float* x, float* gx) const {
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnActivationBackward(lease.cudnn(), act, &kCudnnOne, t.get(), y, t.get(), gy,
                                        t.get(), x, &kCudnnZero, t.get(), gx));
  }
};

void register_gpu(const ReluCase& c) {
  const std::string fwd = "relu_forward/" + c.name + "/gpu",
                    bwd = "relu_backward/" + c.name + "/gpu";
  // Inputs avoid exact zeros, where ReLU's derivative is a convention (Kiln: 0).
  const auto inputs = [c](std::uint64_t seed) { return random_floats(c.count(), seed, -1.f, 1.f); };
  benchmark::RegisterBenchmark(
      (fwd + "/cudnn").c_str(),
      [c, fwd, inputs](benchmark::State& st) {
        const std::vector<float> x = inputs(11);
        std::vector<float> ref(x.size());
        kernels::cpu::relu_forward_reference<float>(c.count(), x.data(), ref.data());
        gpu::Buffer<float> x_dev(x), y_dev(x.size(), -7.f);
        const CudnnRelu relu(c);
        relu.forward(x_dev.get(), y_dev.get());
        if (!verify(st, y_dev.download(), ref, 0, 0, "cudnnActivationForward")) return;
        gpu::run(st, [&] { relu.forward(x_dev.get(), y_dev.get()); }, forward_work(c), {fwd, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (fwd + "/kiln").c_str(),
      [c, fwd, inputs](benchmark::State& st) {
        const std::vector<float> x = inputs(12);
        std::vector<float> ref(x.size());
        kernels::cpu::relu_forward_reference<float>(c.count(), x.data(), ref.data());
        gpu::Buffer<float> x_dev(x), y_dev(x.size(), -7.f);
        cuda::relu_forward(c.count(), x_dev.get(), y_dev.get());
        if (!verify(st, y_dev.download(), ref, 0, 0, "cuda::relu_forward")) return;
        gpu::run(st, [&] { cuda::relu_forward(c.count(), x_dev.get(), y_dev.get()); },
                 forward_work(c), {fwd, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/cudnn").c_str(),
      [c, bwd, inputs](benchmark::State& st) {
        const std::vector<float> x = inputs(13), gy = inputs(14);
        std::vector<float> y(x.size()), ref(x.size());
        kernels::cpu::relu_forward_reference<float>(c.count(), x.data(), y.data());
        kernels::cpu::relu_backward_reference<float>(c.count(), y.data(), gy.data(), ref.data());
        gpu::Buffer<float> x_dev(x), y_dev(y), gy_dev(gy), gx_dev(x.size(), -7.f);
        const CudnnRelu relu(c);
        relu.backward(y_dev.get(), gy_dev.get(), x_dev.get(), gx_dev.get());
        if (!verify(st, gx_dev.download(), ref, 0, 0, "cudnnActivationBackward")) return;
        gpu::run(st, [&] { relu.backward(y_dev.get(), gy_dev.get(), x_dev.get(), gx_dev.get()); },
                 backward_work(c), {bwd, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/kiln").c_str(),
      [c, bwd, inputs](benchmark::State& st) {
        const std::vector<float> x = inputs(15), gy = inputs(16);
        std::vector<float> y(x.size()), ref(x.size());
        kernels::cpu::relu_forward_reference<float>(c.count(), x.data(), y.data());
        kernels::cpu::relu_backward_reference<float>(c.count(), y.data(), gy.data(), ref.data());
        gpu::Buffer<float> y_dev(y), gy_dev(gy), gx_dev(x.size(), -7.f);
        cuda::relu_backward(c.count(), y_dev.get(), gy_dev.get(), gx_dev.get());
        if (!verify(st, gx_dev.download(), ref, 0, 0, "cuda::relu_backward")) return;
        gpu::run(st,
                 [&] { cuda::relu_backward(c.count(), y_dev.get(), gy_dev.get(), gx_dev.get()); },
                 backward_work(c), {bwd, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  for (const ReluCase& c : cases()) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const ReluCase& c : cases()) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
