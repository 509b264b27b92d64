// Per-channel bias of VGG16's 13 convolution outputs (NCHW): the add, y += b broadcast over N, H,
// W, and the gradient, gb[k] = sum of gy over N, H, W. CPU: Kiln's OpenMP kernels against the
// reference loops (32px_b64 only). GPU: Kiln's hand-written kernels (kernels/cuda/bias.cu)
// against cudnnAddTensor and cudnnConvolutionBackwardBias, at every size.
//
// Tolerances. The add is one float add per element everywhere (cuDNN's alpha = beta = 1 leaves
// b + y correctly rounded), so it is held to 0. The gradient is a sum of M = N*H*W values: the
// reference and Kiln's CPU path sum in double, so they agree to float rounding of the result
// (rel 1e-6); the GPU versions sum in float in their own orders, whose rounding error grows with
// the terms' magnitudes, not the result's (a sum of random signs is much smaller than sum |gy|),
// so they are held to an absolute 2e-7 * M, about 3.4 float epsilons of sum |gy| (gy uniform in
// [-1, 1): sum |gy| ~ M / 2). A blocked float sum's actual error is around a hundredth of that.
//
// Work: memory-bound. Add: reads y and b, writes y. Gradient: reads gy, writes gb.
#include <cstdint>
#include <string>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/bias.h"

#if KILN_WITH_CUDA
#include <cudnn.h>

#include "bench/support/gpu.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#endif

namespace kiln::bench {
namespace {

struct BiasCase {
  std::string name;       // "32px_b64/block1_conv2"
  std::int64_t n, k, hw;  // the convolution's output (N, K, HW) with HW = P * Q
  std::int64_t count() const { return n * k * hw; }
  double grad_abs_tol() const { return 2e-7 * static_cast<double>(n * hw); }
};

std::vector<BiasCase> cases(bool all_sizes) {
  std::vector<BiasCase> out;
  for (const Size& size : vgg16_sizes()) {
    if (!all_sizes && std::string(size.name) != "32px_b64") continue;
    for (const VggConv& conv : vgg16_convs()) {
      const std::int64_t side = size.image / conv.hw_div;
      out.push_back({std::string(size.name) + "/" + conv.name, size.batch, conv.k, side * side});
    }
  }
  return out;
}

Work add_work(const BiasCase& c) { return {8.0 * c.count() + 4.0 * c.k, 0, Bound::Memory}; }
Work grad_work(const BiasCase& c) { return {4.0 * c.count() + 4.0 * c.k, 0, Bound::Memory}; }

// y0 + b through the reference: what every version of the add must produce from y0.
std::vector<float> reference_add(const BiasCase& c, const std::vector<float>& b,
                                 std::vector<float> y) {
  kernels::cpu::bias_add_nchw_reference<float>(c.n, c.k, c.hw, b.data(), y.data());
  return y;
}
std::vector<float> reference_grad(const BiasCase& c, const std::vector<float>& gy) {
  std::vector<float> gb(c.k);
  kernels::cpu::bias_grad_nchw_reference<float>(c.n, c.k, c.hw, gy.data(), gb.data());
  return gb;
}

void register_cpu(const BiasCase& c) {
  namespace cpu = kernels::cpu;
  const std::string add = "bias_add/" + c.name + "/cpu", grad = "bias_grad/" + c.name + "/cpu";
  benchmark::RegisterBenchmark((add + "/reference").c_str(), [c, add](benchmark::State& st) {
    const std::vector<float> b = random_floats(c.k, 1);
    std::vector<float> y = random_floats(c.count(), 2);
    run_cpu(st, [&] { cpu::bias_add_nchw_reference<float>(c.n, c.k, c.hw, b.data(), y.data()); },
            add_work(c), {add, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((add + "/kiln_openmp").c_str(), [c, add](benchmark::State& st) {
    const std::vector<float> b = random_floats(c.k, 3);
    std::vector<float> y = random_floats(c.count(), 4);
    const std::vector<float> ref = reference_add(c, b, y);
    cpu::bias_add_nchw_fast(c.n, c.k, c.hw, b.data(), y.data());
    if (!verify(st, y, ref, 0, 0, "bias_add_nchw_fast")) return;
    run_cpu(st, [&] { cpu::bias_add_nchw_fast(c.n, c.k, c.hw, b.data(), y.data()); }, add_work(c),
            {add, false});
  })->UseManualTime();
  benchmark::RegisterBenchmark((grad + "/reference").c_str(), [c, grad](benchmark::State& st) {
    const std::vector<float> gy = random_floats(c.count(), 5);
    std::vector<float> gb(c.k);
    run_cpu(st, [&] { cpu::bias_grad_nchw_reference<float>(c.n, c.k, c.hw, gy.data(), gb.data()); },
            grad_work(c), {grad, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((grad + "/kiln_openmp").c_str(), [c, grad](benchmark::State& st) {
    const std::vector<float> gy = random_floats(c.count(), 6);
    const std::vector<float> ref = reference_grad(c, gy);
    std::vector<float> gb(c.k, -7.f);
    cpu::bias_grad_nchw_fast(c.n, c.k, c.hw, gy.data(), gb.data());
    if (!verify(st, gb, ref, 1e-6, 1e-9, "bias_grad_nchw_fast")) return;
    run_cpu(st, [&] { cpu::bias_grad_nchw_fast(c.n, c.k, c.hw, gy.data(), gb.data()); },
            grad_work(c), {grad, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

// cuDNN's bias calls as kernels/cuda/conv2d.cu makes them: y (N,K,P,Q) and the bias (1,K,1,1).
struct CudnnBias {
  cudnnTensorDescriptor_t y_desc = nullptr, b_desc = nullptr;
  explicit CudnnBias(const BiasCase& c) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&b_desc));
    // HW as (HW, 1): cuDNN sees the same bytes, and 224 px maps need no square root.
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                           static_cast<int>(c.n), static_cast<int>(c.k),
                                           static_cast<int>(c.hw), 1));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(b_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                           static_cast<int>(c.k), 1, 1));
  }
  ~CudnnBias() {
    cudnnDestroyTensorDescriptor(b_desc);
    cudnnDestroyTensorDescriptor(y_desc);
  }
  void add(const float* b, float* y) const {
    const float one = 1.f;
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnAddTensor(lease.cudnn(), &one, b_desc, b, &one, y_desc, y));
  }
  void grad(const float* gy, float* gb) const {
    const float one = 1.f, zero = 0.f;
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnConvolutionBackwardBias(lease.cudnn(), &one, y_desc, gy, &zero, b_desc, gb));
  }
};

void register_gpu(const BiasCase& c) {
  const std::string add = "bias_add/" + c.name + "/gpu", grad = "bias_grad/" + c.name + "/gpu";
  benchmark::RegisterBenchmark(
      (add + "/cudnn").c_str(),
      [c, add](benchmark::State& st) {
        const std::vector<float> b = random_floats(c.k, 11), y = random_floats(c.count(), 12);
        gpu::Buffer<float> b_dev(b), y_dev(y);
        const CudnnBias bias(c);
        bias.add(b_dev.get(), y_dev.get());
        if (!verify(st, y_dev.download(), reference_add(c, b, y), 0, 0, "cudnnAddTensor")) return;
        gpu::run(st, [&] { bias.add(b_dev.get(), y_dev.get()); }, add_work(c), {add, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (add + "/kiln").c_str(),
      [c, add](benchmark::State& st) {
        const std::vector<float> b = random_floats(c.k, 13), y = random_floats(c.count(), 14);
        gpu::Buffer<float> b_dev(b), y_dev(y);
        cuda::bias_add_nchw(c.n, c.k, c.hw, b_dev.get(), y_dev.get());
        if (!verify(st, y_dev.download(), reference_add(c, b, y), 0, 0, "cuda::bias_add_nchw"))
          return;
        gpu::run(st, [&] { cuda::bias_add_nchw(c.n, c.k, c.hw, b_dev.get(), y_dev.get()); },
                 add_work(c), {add, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (grad + "/cudnn").c_str(),
      [c, grad](benchmark::State& st) {
        const std::vector<float> gy = random_floats(c.count(), 15);
        gpu::Buffer<float> gy_dev(gy), gb_dev(c.k, -7.f);
        const CudnnBias bias(c);
        bias.grad(gy_dev.get(), gb_dev.get());
        if (!verify(st, gb_dev.download(), reference_grad(c, gy), 0, c.grad_abs_tol(),
                    "cudnnConvolutionBackwardBias"))
          return;
        gpu::run(st, [&] { bias.grad(gy_dev.get(), gb_dev.get()); }, grad_work(c), {grad, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (grad + "/kiln").c_str(),
      [c, grad](benchmark::State& st) {
        const std::vector<float> gy = random_floats(c.count(), 16);
        gpu::Buffer<float> gy_dev(gy), gb_dev(c.k, -7.f);
        cuda::bias_grad_nchw(c.n, c.k, c.hw, gy_dev.get(), gb_dev.get());
        if (!verify(st, gb_dev.download(), reference_grad(c, gy), 0, c.grad_abs_tol(),
                    "cuda::bias_grad_nchw"))
          return;
        gpu::run(st, [&] { cuda::bias_grad_nchw(c.n, c.k, c.hw, gy_dev.get(), gb_dev.get()); },
                 grad_work(c), {grad, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  for (const BiasCase& c : cases(false)) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const BiasCase& c : cases(true)) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
