// Convolutions: forward, backward-data and backward-weight (with the bias gradient) on VGG16's 13
// conv layers (3x3, stride 1, "same" padding) at 32px batch 64 and 256 and at 224px batch 16.
// GPU, in FP32 and in TF32 math mode: cuDNN (the rival), Kiln's implicit GEMM, and "auto", the
// engine-neutral entry point with ConvEngine::Auto (it times both engines on its first call and
// keeps the faster; the choices are printed after the run). CPU (32px batch 8, three layers: the
// reference loop is slow): oneDNN against the reference.
// Compute-bound: each direction is 2*N*K*C*R*S*P*Q flops; the minimum traffic (each tensor once)
// is reported as GB/s too.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/conv2d.h"

#if KILN_WITH_CUDA
#include "bench/support/gpu.h"
#include "kernels/cuda_runtime.h"
#endif

namespace kiln::bench {
namespace {

namespace kc = kernels::cpu;
using kernels::Conv2dGeometry;

enum class Direction { Forward, BackwardData, BackwardWeight };

const char* name_of(Direction d) {
  switch (d) {
    case Direction::Forward:
      return "forward";
    case Direction::BackwardData:
      return "backward_data";
    case Direction::BackwardWeight:
      return "backward_weight";
  }
  return "?";
}

struct ConvCase {
  std::string name;  // "32px_b64/block3_conv2/forward"
  Conv2dGeometry g;
  Direction direction;

  std::int64_t x_size() const { return g.n * g.c * g.h * g.w; }
  std::int64_t w_size() const { return g.k * g.c * g.r * g.s; }
  std::int64_t y_size() const { return g.n * g.k * g.p() * g.q(); }
  // Products summed into one output element (the bias gradient sums N*P*Q values too).
  std::int64_t terms() const {
    switch (direction) {
      case Direction::Forward:
        return g.c * g.r * g.s;
      case Direction::BackwardData:
        return g.k * g.r * g.s;
      case Direction::BackwardWeight:
        return g.n * g.p() * g.q();
    }
    return 0;
  }
};

Conv2dGeometry vgg_geometry(std::int64_t batch, std::int64_t image, const VggConv& conv) {
  const std::int64_t hw = image / conv.hw_div;
  return Conv2dGeometry{batch, conv.c, hw, hw, conv.k, 3, 3, 1, 1, 1, 1};
}

std::vector<ConvCase> cpu_cases() {
  std::vector<ConvCase> out;
  for (const VggConv& conv : vgg16_convs()) {
    const std::string layer = conv.name;
    if (layer != "block1_conv2" && layer != "block3_conv2" && layer != "block5_conv3") continue;
    for (Direction d : {Direction::Forward, Direction::BackwardData, Direction::BackwardWeight}) {
      out.push_back({"32px_b8/" + layer + "/" + name_of(d), vgg_geometry(8, 32, conv), d});
    }
  }
  return out;
}

Work conv_work(const ConvCase& c, Bound bound) {
  const Conv2dGeometry& g = c.g;
  return {4.0 * (c.x_size() + c.w_size() + c.y_size()),
          2.0 * g.n * g.k * g.c * g.r * g.s * g.p() * g.q(), bound};
}

// A case's inputs (uniform in [-1, 1)) and the outputs it must produce: forward reads x, w, b and
// writes y; backward data reads gy, w and writes gx; backward weight reads x, gy and writes gw, gb.
struct ConvData {
  std::string key;
  std::vector<float> x, w, b, gy;  // the inputs the direction reads; the others stay empty
  std::vector<float> out, out_b;   // y, gx or gw; and gb for backward weight
};

ConvData random_inputs(const ConvCase& c, std::uint64_t seed) {
  ConvData d;
  d.key = c.name;
  if (c.direction != Direction::BackwardData) d.x = random_floats(c.x_size(), seed);
  if (c.direction != Direction::BackwardWeight) d.w = random_floats(c.w_size(), seed + 1);
  if (c.direction == Direction::Forward) d.b = random_floats(c.g.k, seed + 2);
  if (c.direction != Direction::Forward) d.gy = random_floats(c.y_size(), seed + 3);
  return d;
}

std::int64_t out_size(const ConvCase& c) {
  switch (c.direction) {
    case Direction::Forward:
      return c.y_size();
    case Direction::BackwardData:
      return c.x_size();
    case Direction::BackwardWeight:
      return c.w_size();
  }
  return 0;
}

// One direction on the CPU into d.out (and d.out_b), on oneDNN or on the reference loop in T.
void cpu_onednn(const ConvCase& c, ConvData& d) {
  switch (c.direction) {
    case Direction::Forward:
      kc::conv2d_forward_onednn(c.g, d.x.data(), d.w.data(), d.b.data(), d.out.data());
      break;
    case Direction::BackwardData:
      kc::conv2d_backward_data_onednn(c.g, d.gy.data(), d.w.data(), d.out.data());
      break;
    case Direction::BackwardWeight:
      kc::conv2d_backward_weight_onednn(c.g, d.x.data(), d.gy.data(), d.out.data(), d.out_b.data());
      break;
  }
}

template <typename T>
void cpu_reference(const ConvCase& c, const std::vector<T>& x, const std::vector<T>& w,
                   const std::vector<T>& b, const std::vector<T>& gy, std::vector<T>& out,
                   std::vector<T>& out_b) {
  switch (c.direction) {
    case Direction::Forward:
      kc::conv2d_forward_reference<T>(c.g, x.data(), w.data(), b.data(), out.data());
      break;
    case Direction::BackwardData:
      kc::conv2d_backward_data_reference<T>(c.g, gy.data(), w.data(), out.data());
      break;
    case Direction::BackwardWeight:
      kc::conv2d_backward_weight_reference<T>(c.g, x.data(), gy.data(), out.data(), out_b.data());
      break;
  }
}

void size_outputs(const ConvCase& c, ConvData& d, float fill) {
  d.out.assign(static_cast<std::size_t>(out_size(c)), fill);
  d.out_b.assign(c.direction == Direction::BackwardWeight ? static_cast<std::size_t>(c.g.k) : 0,
                 fill);
}

// Inputs are uniform in [-1, 1), so an output summing T products has rms sqrt(T)/3. Allowed error
// per element, absolute: rel * (1 + sqrt(T)), with rel 1e-4 in FP32 (float accumulation in any
// order, and cuDNN's Winograd/FFT transforms) and 2e-3 in TF32 (operands rounded to 10 mantissa
// bits, errors adding like a random walk): see tests/cuda/conv_linear_test.cpp. A wrong index,
// stride or padding errs by about the rms itself.
double tolerance(bool tf32, std::int64_t terms) {
  return (tf32 ? 2e-3 : 1e-4) * (1.0 + std::sqrt(static_cast<double>(terms)));
}

bool verify_outputs(benchmark::State& st, const ConvCase& c, const std::vector<float>& out,
                    const std::vector<float>& out_b, const ConvData& ref, bool tf32,
                    const std::string& what) {
  const double tol = tolerance(tf32, c.terms());
  // TF32 also allows 3e-3 of the element itself: a library may truncate operands to TF32 rather
  // than round them, a systematic shrink of up to ~1e-3 that the absolute bound alone would not
  // absorb on the largest of 51M outputs.
  const double rel = tf32 ? 3e-3 : 0.0;
  if (!verify(st, out, ref.out, rel, tol, what + " " + name_of(c.direction))) return false;
  return c.direction != Direction::BackwardWeight ||
         verify(st, out_b, ref.out_b, rel, tol, what + " bias gradient");
}

void register_cpu(const ConvCase& c) {
  const std::string group = "conv/" + c.name + "/cpu";
  benchmark::RegisterBenchmark(
      (group + "/reference").c_str(), guarded([c, group](benchmark::State& st) {
        ConvData d = random_inputs(c, 1);
        size_outputs(c, d, 0.f);
        run_cpu(st, [&] { cpu_reference<float>(c, d.x, d.w, d.b, d.gy, d.out, d.out_b); },
                conv_work(c, Bound::ComputeFP32), {group, true});
      }))
      ->UseManualTime();
  benchmark::RegisterBenchmark(
      (group + "/onednn").c_str(), guarded([c, group](benchmark::State& st) {
        ConvData d = random_inputs(c, 2);
        // The exact answer: the reference loop in double on the same inputs.
        const auto widen = [](const std::vector<float>& v) {
          return std::vector<double>(v.begin(), v.end());
        };
        std::vector<double> out(static_cast<std::size_t>(out_size(c))),
            out_b(c.direction == Direction::BackwardWeight ? static_cast<std::size_t>(c.g.k) : 0);
        cpu_reference<double>(c, widen(d.x), widen(d.w), widen(d.b), widen(d.gy), out, out_b);
        ConvData ref;
        ref.out.assign(out.begin(), out.end());
        ref.out_b.assign(out_b.begin(), out_b.end());
        size_outputs(c, d, -9.f);
        cpu_onednn(c, d);
        if (!verify_outputs(st, c, d.out, d.out_b, ref, false, "oneDNN")) return;
        run_cpu(st, [&] { cpu_onednn(c, d); }, conv_work(c, Bound::ComputeFP32), {group, false});
      }))
      ->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

std::vector<ConvCase> gpu_cases() {
  std::vector<ConvCase> out;
  for (const Size& size : vgg16_sizes()) {
    for (const VggConv& conv : vgg16_convs()) {
      for (Direction d : {Direction::Forward, Direction::BackwardData, Direction::BackwardWeight}) {
        out.push_back({std::string(size.name) + "/" + conv.name + "/" + name_of(d),
                       vgg_geometry(size.batch, size.image, conv), d});
      }
    }
  }
  return out;
}

// The reference every GPU version of a case is checked against: oneDNN in FP32, which at 224px
// batch 16 takes seconds where the reference loop would take hours. oneDNN's own error (a few ulps
// of the partial sums) is far inside the tolerances below. Computed ONCE per case and shared by
// cuDNN, Kiln and auto in both math modes; only the last case is kept (a case's benchmarks run
// one after another, and 224px activations are hundreds of MB).
const ConvData& gpu_reference(const ConvCase& c) {
  static ConvData data;
  if (data.key == c.name) return data;
  data = random_inputs(c, 1000 + static_cast<std::uint64_t>(c.x_size() + 7 * c.w_size()) +
                              static_cast<std::uint64_t>(c.direction));
  data.key.clear();  // set again only once the reference is complete (oneDNN may throw)
  size_outputs(c, data, -7.f);
  cpu_onednn(c, data);
  data.key = c.name;
  return data;
}

enum class Version { CuDNN, Kiln, Auto };

// The case's inputs on the device, an output pre-filled with a sentinel, and the launch of one
// version of the direction.
struct DeviceConv {
  const ConvCase& c;
  gpu::Buffer<float> x, w, b, gy, out, out_b;
  DeviceConv(const ConvCase& conv, const ConvData& d)
      : c(conv),
        x(d.x),
        w(d.w),
        b(d.b),
        gy(d.gy),
        out(d.out.size(), -9.f),
        out_b(d.out_b.size(), -9.f) {}

  void launch(Version v) {
    const Conv2dGeometry& g = c.g;
    switch (c.direction) {
      case Direction::Forward:
        (v == Version::CuDNN  ? cuda::conv2d_forward_cudnn
         : v == Version::Kiln ? cuda::conv2d_forward_kiln
                              : cuda::conv2d_forward)(g, x.get(), w.get(), b.get(), out.get());
        break;
      case Direction::BackwardData:
        (v == Version::CuDNN  ? cuda::conv2d_backward_data_cudnn
         : v == Version::Kiln ? cuda::conv2d_backward_data_kiln
                              : cuda::conv2d_backward_data)(g, gy.get(), w.get(), out.get());
        break;
      case Direction::BackwardWeight:
        (v == Version::CuDNN ? cuda::conv2d_backward_weight_cudnn
         : v == Version::Kiln
             ? cuda::conv2d_backward_weight_kiln
             : cuda::conv2d_backward_weight)(g, x.get(), gy.get(), out.get(), out_b.get());
        break;
    }
  }
};

void register_gpu(const ConvCase& c) {
  struct Row {
    const char* name;
    Version version;
  };
  // The rival first: the others report %rival against it.
  const Row rows[] = {{"cudnn", Version::CuDNN}, {"kiln", Version::Kiln}, {"auto", Version::Auto}};
  for (const bool tf32 : {false, true}) {
    const cuda::MathMode mode = tf32 ? cuda::MathMode::TF32 : cuda::MathMode::FP32;
    const Bound bound = tf32 ? Bound::ComputeTF32 : Bound::ComputeFP32;
    const std::string group = "conv/" + c.name + (tf32 ? "/gpu_tf32" : "/gpu_fp32");
    for (const Row& row : rows) {
      benchmark::RegisterBenchmark(
          (group + "/" + row.name).c_str(), guarded([=](benchmark::State& st) {
            const cuda::MathModeScope math(mode);
            const cuda::ConvEngineScope engine(cuda::ConvEngine::Auto);
            const ConvData& ref = gpu_reference(c);
            DeviceConv d(c, ref);
            d.launch(row.version);  // for Auto, this first call also picks the engine
            if (!verify_outputs(st, c, d.out.download(), d.out_b.download(), ref, tf32,
                                std::string(row.name) + (tf32 ? " TF32" : " FP32"))) {
              return;
            }
            gpu::run(st, [&] { d.launch(row.version); }, conv_work(c, bound),
                     {group, row.version == Version::CuDNN});
          }))
          ->UseManualTime()
          ->Iterations(gpu::iterations());
    }
  }
}

const char* name_of(cuda::ConvDirection d) {
  switch (d) {
    case cuda::ConvDirection::Forward:
      return "forward";
    case cuda::ConvDirection::BackwardData:
      return "backward_data";
    case cuda::ConvDirection::BackwardWeight:
      return "backward_weight";
  }
  return "?";
}

// What Auto chose for every (geometry, direction, math mode) it met during the run.
void print_engine_choices() {
  const std::vector<cuda::ConvEngineChoice> choices = cuda::conv_engine_choices();
  if (choices.empty()) return;
  std::printf("\nconv engine choices (ConvEngine::Auto), %zu:\n", choices.size());
  std::printf("%-4s %-5s %-5s %-4s %-4s %-16s %-5s %-6s %10s %10s %8s\n", "N", "C", "K", "H", "W",
              "direction", "mode", "chosen", "cudnn_ms", "kiln_ms", "kiln/cudnn");
  for (const cuda::ConvEngineChoice& e : choices) {
    std::printf("%-4lld %-5lld %-5lld %-4lld %-4lld %-16s %-5s %-6s %10.4f %10.4f %8.2f\n",
                static_cast<long long>(e.g.n), static_cast<long long>(e.g.c),
                static_cast<long long>(e.g.k), static_cast<long long>(e.g.h),
                static_cast<long long>(e.g.w), name_of(e.direction),
                e.mode == cuda::MathMode::TF32 ? "TF32" : "FP32", cuda::to_string(e.chosen),
                e.cudnn_ms, e.kiln_ms, e.cudnn_ms > 0 ? e.kiln_ms / e.cudnn_ms : 0.0);
  }
}
#endif

void register_all() {
  for (const ConvCase& c : cpu_cases()) register_cpu(c);
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const ConvCase& c : gpu_cases()) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  const int status = kiln::bench::run_main(argc, argv, kiln::bench::register_all);
#if KILN_WITH_CUDA
  // After the report: the table of Auto's choices (empty, so nothing, without a device).
  if (kiln::bench::gpu::available(nullptr)) kiln::bench::print_engine_choices();
#endif
  return status;
}
