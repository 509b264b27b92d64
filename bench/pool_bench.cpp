// Max pooling 2x2 stride 2, forward and backward, at VGG16's five pooling inputs (the output of
// each block's last convolution). CPU: Kiln's OpenMP kernels against the reference loops. GPU:
// Kiln's hand-written kernels against cudnnPoolingForward/Backward in
// CUDNN_POOLING_MAX_DETERMINISTIC mode.
//
// NOTE: ties. Kiln gives a tied window to its first maximum in row-major order; cuDNN documents
// no such rule. The inputs therefore hold distinct values within every (n, c) plane (a shuffled
// ramp), so every window has one maximum and all versions must agree bit for bit: the forward
// copies a value, the backward copies gy to the winner (windows do not overlap), and nothing is
// rounded. Every tolerance below is 0.
//
// Work (the same for every version of a group, so GB/s and %rival tell the same story): Kiln's
// contract. Forward reads x, writes y and the int32 argmax; backward reads gy and argmax, writes
// gx. cuDNN moves less in the forward (no argmax) and more in the backward (it re-reads x and y
// to find the winners), so its %ceiling is on Kiln's byte count, not its own.
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/pool2d.h"

#if KILN_WITH_CUDA
#include <cudnn.h>

#include "bench/support/cudnn_rival.h"
#include "bench/support/gpu.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#endif

namespace kiln::bench {
namespace {

using kernels::Pool2dGeometry;

struct PoolCase {
  std::string name;  // "32px_b64/block1_pool"
  Pool2dGeometry g;  // input (N, C, H, W), 2x2 window, stride 2
  std::int64_t in_count() const { return g.n * g.c * g.h * g.w; }
  std::int64_t out_count() const { return g.n * g.c * g.p() * g.q(); }
};

// The last convolution of each block feeds that block's pooling layer.
std::vector<PoolCase> cases(const Size& size) {
  std::vector<PoolCase> out;
  const std::vector<VggConv>& convs = vgg16_convs();
  for (std::size_t i = 0; i < convs.size(); ++i) {
    const std::string layer = convs[i].name;  // "block3_conv3"
    const std::string block = layer.substr(0, layer.find('_'));
    const bool last_of_block =
        i + 1 == convs.size() || std::string(convs[i + 1].name).rfind(block + "_", 0) != 0;
    if (!last_of_block) continue;
    const std::int64_t hw = size.image / convs[i].hw_div;
    out.push_back({std::string(size.name) + "/" + block + "_pool",
                   {size.batch, convs[i].k, hw, hw, 2, 2, 2, 2}});
  }
  return out;
}

// The CPU reference runs the 224 px sizes in well under a second per pass on two cores, so the
// CPU rows cover the first and last sizes; 32px_b256 is 32px_b64 four times over.
std::vector<PoolCase> cpu_cases() {
  std::vector<PoolCase> out;
  for (const Size& size : vgg16_sizes()) {
    if (std::string(size.name) == "32px_b256") continue;
    for (PoolCase& c : cases(size)) out.push_back(std::move(c));
  }
  return out;
}

Work forward_work(const PoolCase& c) {
  return {4.0 * c.in_count() + 8.0 * c.out_count(), 0, Bound::Memory};
}
Work backward_work(const PoolCase& c) {
  return {8.0 * c.out_count() + 4.0 * c.in_count(), 0, Bound::Memory};
}

// x (N,C,H,W): every plane is a fresh shuffle of H*W distinct values in [-1, 1) (see the NOTE).
std::vector<float> distinct_input(const PoolCase& c, std::uint64_t seed) {
  const std::int64_t plane = c.g.h * c.g.w, planes = c.g.n * c.g.c;
  std::vector<float> ramp(static_cast<std::size_t>(plane));
  for (std::int64_t i = 0; i < plane; ++i)
    ramp[i] = -1.f + 2.f * static_cast<float>(i) / static_cast<float>(plane);
  std::vector<float> x(static_cast<std::size_t>(planes * plane));
  std::mt19937_64 rng(seed);
  for (std::int64_t p = 0; p < planes; ++p) {
    std::shuffle(ramp.begin(), ramp.end(), rng);
    std::copy(ramp.begin(), ramp.end(), x.begin() + p * plane);
  }
  return x;
}

// The reference's outputs for one input: y, argmax, and gx for a random gy.
struct Reference {
  std::vector<float> x, y, gy, gx;   // x, gx (N,C,H,W); y, gy (N,C,P,Q)
  std::vector<std::int32_t> argmax;  // (N,C,P,Q)
  Reference(const PoolCase& c, std::uint64_t seed)
      : x(distinct_input(c, seed)),
        y(c.out_count()),
        gy(random_floats(c.out_count(), seed + 1000)),
        gx(c.in_count()),
        argmax(c.out_count()) {
    kernels::cpu::max_pool2d_forward_reference<float>(c.g, x.data(), y.data(), argmax.data());
    kernels::cpu::max_pool2d_backward_reference<float>(c.g, gy.data(), argmax.data(), gx.data());
  }
};

void register_cpu(const PoolCase& c) {
  namespace cpu = kernels::cpu;
  const std::string fwd = "maxpool_forward/" + c.name + "/cpu";
  const std::string bwd = "maxpool_backward/" + c.name + "/cpu";
  benchmark::RegisterBenchmark((fwd + "/reference").c_str(), [c, fwd](benchmark::State& st) {
    const std::vector<float> x = distinct_input(c, 1);
    std::vector<float> y(c.out_count());
    std::vector<std::int32_t> argmax(c.out_count());
    run_cpu(
        st,
        [&] { cpu::max_pool2d_forward_reference<float>(c.g, x.data(), y.data(), argmax.data()); },
        forward_work(c), {fwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((fwd + "/kiln_openmp").c_str(), [c, fwd](benchmark::State& st) {
    const Reference ref(c, 2);
    std::vector<float> y(c.out_count(), -7.f);
    std::vector<std::int32_t> argmax(c.out_count(), -1);
    cpu::max_pool2d_forward_fast(c.g, ref.x.data(), y.data(), argmax.data());
    if (!verify(st, y, ref.y, 0, 0, "max_pool2d_forward_fast y")) return;
    if (!verify_exact(st, argmax, ref.argmax, "max_pool2d_forward_fast argmax")) return;
    run_cpu(st, [&] { cpu::max_pool2d_forward_fast(c.g, ref.x.data(), y.data(), argmax.data()); },
            forward_work(c), {fwd, false});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/reference").c_str(), [c, bwd](benchmark::State& st) {
    const Reference ref(c, 3);
    std::vector<float> gx(c.in_count());
    run_cpu(st,
            [&] {
              cpu::max_pool2d_backward_reference<float>(c.g, ref.gy.data(), ref.argmax.data(),
                                                        gx.data());
            },
            backward_work(c), {bwd, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((bwd + "/kiln_openmp").c_str(), [c, bwd](benchmark::State& st) {
    const Reference ref(c, 4);
    std::vector<float> gx(c.in_count(), -7.f);
    cpu::max_pool2d_backward_fast(c.g, ref.gy.data(), ref.argmax.data(), gx.data());
    if (!verify(st, gx, ref.gx, 0, 0, "max_pool2d_backward_fast")) return;
    run_cpu(
        st,
        [&] { cpu::max_pool2d_backward_fast(c.g, ref.gy.data(), ref.argmax.data(), gx.data()); },
        backward_work(c), {bwd, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

std::vector<PoolCase> gpu_cases() {
  std::vector<PoolCase> out;
  for (const Size& size : vgg16_sizes())
    for (PoolCase& c : cases(size)) out.push_back(std::move(c));
  return out;
}

// cuDNN's 2x2 stride-2 max pooling on the case's NCHW shapes, handle bound to Kiln's stream.
struct CudnnPool {
  CudnnNchw x, y;
  cudnnPoolingDescriptor_t pool = nullptr;
  explicit CudnnPool(const PoolCase& c)
      : x(c.g.n, c.g.c, c.g.h, c.g.w), y(c.g.n, c.g.c, c.g.p(), c.g.q()) {
    const auto i = [](std::int64_t v) { return static_cast<int>(v); };
    CUDNN_CHECK(cudnnCreatePoolingDescriptor(&pool));
    CUDNN_CHECK(cudnnSetPooling2dDescriptor(
        pool, CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_NOT_PROPAGATE_NAN, i(c.g.kh), i(c.g.kw),
        i(c.g.pad_h), i(c.g.pad_w), i(c.g.stride_h), i(c.g.stride_w)));
  }
  ~CudnnPool() { cudnnDestroyPoolingDescriptor(pool); }
  void forward(const float* xd, float* yd) const {
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnPoolingForward(lease.cudnn(), pool, &kCudnnOne, x.get(), xd, &kCudnnZero,
                                    y.get(), yd));
  }
  // cuDNN finds the winners again from x and y (it keeps no argmax).
  void backward(const float* yd, const float* gy, const float* xd, float* gx) const {
    cuda::DeviceLease lease;
    CUDNN_CHECK(cudnnPoolingBackward(lease.cudnn(), pool, &kCudnnOne, y.get(), yd, y.get(), gy,
                                     x.get(), xd, &kCudnnZero, x.get(), gx));
  }
};

void register_gpu(const PoolCase& c) {
  const std::string fwd = "maxpool_forward/" + c.name + "/gpu";
  const std::string bwd = "maxpool_backward/" + c.name + "/gpu";
  benchmark::RegisterBenchmark(
      (fwd + "/cudnn").c_str(),
      [c, fwd](benchmark::State& st) {
        const Reference ref(c, 11);
        gpu::Buffer<float> x_dev(ref.x), y_dev(ref.y.size(), -7.f);
        const CudnnPool pool(c);
        pool.forward(x_dev.get(), y_dev.get());
        if (!verify(st, y_dev.download(), ref.y, 0, 0, "cudnnPoolingForward")) return;
        gpu::run(st, [&] { pool.forward(x_dev.get(), y_dev.get()); }, forward_work(c), {fwd, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (fwd + "/kiln").c_str(),
      [c, fwd](benchmark::State& st) {
        const Reference ref(c, 12);
        gpu::Buffer<float> x_dev(ref.x), y_dev(ref.y.size(), -7.f);
        gpu::Buffer<std::int32_t> argmax_dev(ref.argmax.size(), -1);
        cuda::max_pool2d_forward(c.g, x_dev.get(), y_dev.get(), argmax_dev.get());
        if (!verify(st, y_dev.download(), ref.y, 0, 0, "cuda::max_pool2d_forward y")) return;
        if (!verify_exact(st, argmax_dev.download(), ref.argmax, "cuda::max_pool2d_forward argmax"))
          return;
        gpu::run(st,
                 [&] { cuda::max_pool2d_forward(c.g, x_dev.get(), y_dev.get(), argmax_dev.get()); },
                 forward_work(c), {fwd, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/cudnn").c_str(),
      [c, bwd](benchmark::State& st) {
        const Reference ref(c, 13);
        gpu::Buffer<float> x_dev(ref.x), y_dev(ref.y), gy_dev(ref.gy), gx_dev(ref.gx.size(), -7.f);
        const CudnnPool pool(c);
        pool.backward(y_dev.get(), gy_dev.get(), x_dev.get(), gx_dev.get());
        if (!verify(st, gx_dev.download(), ref.gx, 0, 0, "cudnnPoolingBackward")) return;
        gpu::run(st, [&] { pool.backward(y_dev.get(), gy_dev.get(), x_dev.get(), gx_dev.get()); },
                 backward_work(c), {bwd, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (bwd + "/kiln").c_str(),
      [c, bwd](benchmark::State& st) {
        const Reference ref(c, 14);
        gpu::Buffer<float> gy_dev(ref.gy), gx_dev(ref.gx.size(), -7.f);
        gpu::Buffer<std::int32_t> argmax_dev(ref.argmax);
        cuda::max_pool2d_backward(c.g, gy_dev.get(), argmax_dev.get(), gx_dev.get());
        if (!verify(st, gx_dev.download(), ref.gx, 0, 0, "cuda::max_pool2d_backward")) return;
        gpu::run(
            st,
            [&] { cuda::max_pool2d_backward(c.g, gy_dev.get(), argmax_dev.get(), gx_dev.get()); },
            backward_work(c), {bwd, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  for (const PoolCase& c : cpu_cases()) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const PoolCase& c : gpu_cases()) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
