// Augmentation + VGG preprocessing (kernels/augment.h): a uint8 NHWC batch with one random affine
// transform per image in, the network's float NCHW input out. CPU: Kiln's one-pass OpenMP kernel
// against the reference, data/'s two passes (apply_affine into an HWC float image, then
// vgg_preprocess) one image at a time. GPU: Kiln's kernel alone (cuDNN has nothing to race it),
// verified against the same reference and judged by its %ceiling. input_step rows: the GPU
// training step's whole input step, host to network input (see register_input_step).
// Memory-bound: 3 bytes read and 12 bytes written per pixel. (Bilinear sampling reads up to four
// source pixels, but neighbouring outputs share them, so the minimum traffic is one read.)
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/support/bench.h"
#include "core/random.h"
#include "data/augment.h"
#include "data/preprocess.h"
#include "kernels/augment.h"

#if KILN_WITH_CUDA
#include <chrono>

#include "bench/support/gpu.h"
#include "data/gpu_input.h"
#include "data/loader.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_memory.h"
#endif

namespace kiln::bench {
namespace {

using kernels::AffineTransform;

struct AugmentCase {
  std::string name;  // "32px_b64"
  std::int64_t n;
  int hw;  // square images, hw x hw
  std::int64_t pixels() const { return n * hw * hw; }
};

std::vector<AugmentCase> cases() {
  std::vector<AugmentCase> out;
  for (const Size& size : vgg16_sizes())
    out.push_back({size.name, size.batch, static_cast<int>(size.image)});
  return out;
}

Work augment_work(const AugmentCase& c) { return {15.0 * c.pixels(), 0, Bound::Memory}; }

// A batch as training sees it: random pixels, and transforms drawn as the cifar10 app draws them
// with every augmentation on (the ranges of tests/cuda/augment_parity_test.cpp).
struct Batch {
  std::vector<std::uint8_t> images;         // (n, hw, hw, 3) RGB
  std::vector<AffineTransform> transforms;  // (n)
  std::vector<AffineParams> params;         // the same, in data/'s type
};

Batch random_batch(const AugmentCase& c, std::uint64_t seed) {
  Batch b;
  Generator gen(seed);
  b.images.resize(static_cast<std::size_t>(c.pixels() * 3));
  for (std::uint8_t& v : b.images) v = static_cast<std::uint8_t>(gen.next_u64() >> 56);
  AugmentOptions options;
  options.rotation_deg = 30;
  options.width_shift = 0.15;
  options.height_shift = 0.1;
  options.zoom = 0.2;
  options.horizontal_flip = true;
  for (std::int64_t i = 0; i < c.n; ++i) {
    const AffineParams p = draw_affine(options, c.hw, c.hw, gen);
    b.params.push_back(p);
    b.transforms.push_back(AffineTransform{p.theta, p.tx, p.ty, p.zx, p.zy, p.flip});
  }
  return b;
}

// data/'s two passes, one image at a time: out (n, 3, hw, hw). `scratch` holds one HWC image.
void reference(const AugmentCase& c, const Batch& b, std::vector<float>& scratch, float* out) {
  const std::int64_t image = static_cast<std::int64_t>(c.hw) * c.hw * 3;
  scratch.resize(static_cast<std::size_t>(image));
  for (std::int64_t i = 0; i < c.n; ++i) {
    apply_affine(b.images.data() + i * image, c.hw, c.hw, 3, b.params[i], scratch.data());
    vgg_preprocess(scratch.data(), c.hw, c.hw, out + i * image);
  }
}

std::vector<float> reference(const AugmentCase& c, const Batch& b) {
  std::vector<float> scratch, out(static_cast<std::size_t>(c.pixels() * 3), -7.f);
  reference(c, b, scratch, out.data());
  return out;
}

// Absolute, on values within about +-152: every version runs kernels/affine_sample.h on the same
// doubles and is expected to match bit for bit (see tests/cuda/augment_parity_test.cpp); a wrong
// map (a sign, a swapped axis, a missed flip) errs by whole intensity steps.
constexpr double kTol = 1e-4;

void register_cpu(const AugmentCase& c) {
  const std::string group = "augment_preprocess/" + c.name + "/cpu";
  benchmark::RegisterBenchmark((group + "/reference").c_str(), [c, group](benchmark::State& st) {
    const Batch b = random_batch(c, 1);
    std::vector<float> scratch, out(static_cast<std::size_t>(c.pixels() * 3));
    run_cpu(st, [&] { reference(c, b, scratch, out.data()); }, augment_work(c), {group, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((group + "/kiln_openmp").c_str(), [c, group](benchmark::State& st) {
    const Batch b = random_batch(c, 2);
    const std::vector<float> ref = reference(c, b);
    std::vector<float> out(ref.size(), -9.f);
    const auto launch = [&] {
      kernels::cpu::augment_preprocess(c.n, c.hw, c.hw, b.images.data(), b.transforms.data(),
                                       out.data());
    };
    launch();
    if (!verify(st, out, ref, 0, kTol, "cpu::augment_preprocess")) return;
    run_cpu(st, launch, augment_work(c), {group, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
void register_gpu(const AugmentCase& c) {
  const std::string group = "augment_preprocess/" + c.name + "/gpu";
  // The transforms go up from a host array inside the call, as they do in training: that copy is
  // part of the op and of its time.
  benchmark::RegisterBenchmark(
      (group + "/kiln").c_str(),
      [c, group](benchmark::State& st) {
        const Batch b = random_batch(c, 11);
        const std::vector<float> ref = reference(c, b);
        gpu::Buffer<std::uint8_t> images(b.images);
        gpu::Buffer<float> out(ref.size(), -9.f);
        const auto launch = [&] {
          kernels::cuda::augment_preprocess(c.n, c.hw, c.hw, images.get(), b.transforms.data(),
                                            out.get());
        };
        launch();
        if (!verify(st, out.download(), ref, 0, kTol, "cuda::augment_preprocess")) return;
        gpu::run(st, launch, augment_work(c), {group, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

#if KILN_WITH_CUDA
// The whole input step of a GPU training step, on the wall clock from the host's side with the
// device otherwise idle: the rival is the old path (Kiln's OpenMP kernel into a float batch on the
// host, then its 12-byte-per-pixel upload), against data/gpu_input.h (3 bytes per pixel into
// pinned memory, the upload on the copy stream, the fused kernel on the device). In training the
// upload also overlaps the previous step; this is its latency when nothing hides it. Compare the
// ms column with vgg16_bench's step at the same size to see whether input keeps up.
void time_wall(benchmark::State& st, const std::function<void()>& step, const AugmentCase& c,
               const Role& role) {
  std::vector<double> seconds;
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    st.SetIterationTime(dt.count());
    seconds.push_back(dt.count());
  }
  report(st, seconds, augment_work(c), role, Ceilings{});
}

void register_input_step(const AugmentCase& c) {
  const std::string group = "input_step/" + c.name + "/gpu";
  benchmark::RegisterBenchmark(
      (group + "/cpu_augment_float_upload").c_str(),
      [c, group](benchmark::State& st) {
        const Batch b = random_batch(c, 21);
        const std::vector<float> ref = reference(c, b);
        std::vector<float> host(ref.size());
        gpu::Buffer<float> out(ref.size(), -9.f);
        const auto step = [&] {
          kernels::cpu::augment_preprocess(c.n, c.hw, c.hw, b.images.data(), b.transforms.data(),
                                           host.data());
          kernels::cuda::copy_host_to_device(out.get(), host.data(), host.size() * sizeof(float));
        };
        step();
        if (!verify(st, out.download(), ref, 0, kTol, "CPU input + upload")) return;
        time_wall(st, step, c, {group, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (group + "/kiln_uint8_upload_fused").c_str(),
      [c, group](benchmark::State& st) {
        const Batch b = random_batch(c, 22);
        const std::vector<float> ref = reference(c, b);
        kiln::Batch batch;  // what the loader hands out with BatchForm::Pixels
        batch.pixels = b.images;
        batch.transforms = b.params;
        batch.indices.resize(static_cast<std::size_t>(c.n));
        batch.height = batch.width = c.hw;
        GpuInput input(c.n, c.hw, c.hw);
        Tensor x;
        const auto step = [&] {
          input.stage(batch);
          x = input.images(batch);
          kernels::cuda::synchronize();
        };
        step();
        if (!verify(st, x.to_vector<float>(), ref, 0, kTol, "GpuInput")) return;
        time_wall(st, step, c, {group, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  for (const AugmentCase& c : cases()) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const AugmentCase& c : cases()) register_gpu(c);
    for (const AugmentCase& c : cases()) register_input_step(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
