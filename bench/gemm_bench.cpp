// Dense-layer GEMMs: VGG16's head (forward, and the two transposed products of its backward pass)
// at 32px batch 64 and 256 (512 -> 256 -> 10) and at 224px batch 16 (the ImageNet top: 25088 ->
// 4096 -> 4096 -> 1000), and square 1024 to 8192. GPU: Kiln's hand-written tiled GEMM
// (kernels/gemm.h) in FP32 and on TF32 tensor cores, each against cuBLAS in the same math mode.
// CPU (32px head only: the reference loop is slow): OpenBLAS against the reference loop.
// Compute-bound: 2*M*N*K flops; the minimum traffic (each matrix once) is reported as GB/s too,
// which is what limits the skinny head products.
//
// Shapes are named as the GEMM sees them, C (M,N) = op(A) (M,K) @ op(B) (K,N), row-major:
//   forward_nn          y (B,out) = x (B,in) @ w (in,out)          M=B,  N=out, K=in
//   backward_data_nt    gx (B,in) = gy (B,out) @ w^T, w (in,out)   M=B,  N=in,  K=out
//   backward_weight_tn  gw (in,out) = x^T @ gy, x (B,in)           M=in, N=out, K=B
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/linear.h"

#if KILN_WITH_CUDA
#include "bench/support/gpu.h"
#include "kernels/cuda_runtime.h"
#include "kernels/gemm.h"
#endif

namespace kiln::bench {
namespace {

namespace kc = kernels::cpu;

enum class GemmKind { ForwardNN, BackwardDataNT, BackwardWeightTN };

const char* name_of(GemmKind kind) {
  switch (kind) {
    case GemmKind::ForwardNN:
      return "forward_nn";
    case GemmKind::BackwardDataNT:
      return "backward_data_nt";
    case GemmKind::BackwardWeightTN:
      return "backward_weight_tn";
  }
  return "?";
}

struct GemmCase {
  std::string name;  // "32px_b64/dense/forward_nn"
  GemmKind kind;
  std::int64_t m, n, k;
  bool on_cpu;  // small enough for the CPU rows
  bool trans_a() const { return kind == GemmKind::BackwardWeightTN; }
  bool trans_b() const { return kind == GemmKind::BackwardDataNT; }
};

std::vector<GemmCase> cases() {
  struct Dense {
    const char* name;
    std::int64_t in, out;
  };
  std::vector<GemmCase> out;
  for (const Size& size : vgg16_sizes()) {
    const bool small = size.image == 32;
    const std::vector<Dense> head =
        small ? std::vector<Dense>{{"dense", 512, 256}, {"dense_1", 256, 10}}
              : std::vector<Dense>{
                    {"fc1", 25088, 4096}, {"fc2", 4096, 4096}, {"predictions", 4096, 1000}};
    for (const Dense& d : head) {
      const std::string prefix = std::string(size.name) + "/" + d.name + "/";
      const std::int64_t b = size.batch;
      out.push_back(
          {prefix + name_of(GemmKind::ForwardNN), GemmKind::ForwardNN, b, d.out, d.in, small});
      out.push_back({prefix + name_of(GemmKind::BackwardDataNT), GemmKind::BackwardDataNT, b, d.in,
                     d.out, small});
      out.push_back({prefix + name_of(GemmKind::BackwardWeightTN), GemmKind::BackwardWeightTN, d.in,
                     d.out, b, small});
    }
  }
  for (std::int64_t s : {1024, 2048, 4096, 8192}) {
    out.push_back({"square_" + std::to_string(s) + "/" + name_of(GemmKind::ForwardNN),
                   GemmKind::ForwardNN, s, s, s, false});
  }
  return out;
}

Work gemm_work(const GemmCase& c, Bound bound) {
  return {4.0 * (c.m * c.k + c.k * c.n + c.m * c.n), 2.0 * c.m * c.n * c.k, bound};
}

// The CPU GEMM through kernels/linear.h's Dense kernels (see the file comment for the mapping),
// on the reference loop or on BLAS (float only).
template <typename T>
void cpu_reference(const GemmCase& c, const T* a, const T* b, T* out) {
  switch (c.kind) {
    case GemmKind::ForwardNN:
      kc::linear_forward_reference<T>(c.m, c.k, c.n, a, b, nullptr, out);
      break;
    case GemmKind::BackwardDataNT:
      kc::linear_backward_data_reference<T>(c.m, c.n, c.k, a, b, out);
      break;
    case GemmKind::BackwardWeightTN:
      kc::linear_backward_weight_reference<T>(c.k, c.m, c.n, a, b, out, nullptr);
      break;
  }
}

void cpu_blas(const GemmCase& c, const float* a, const float* b, float* out) {
  switch (c.kind) {
    case GemmKind::ForwardNN:
      kc::linear_forward_blas(c.m, c.k, c.n, a, b, nullptr, out);
      break;
    case GemmKind::BackwardDataNT:
      kc::linear_backward_data_blas(c.m, c.n, c.k, a, b, out);
      break;
    case GemmKind::BackwardWeightTN:
      kc::linear_backward_weight_blas(c.k, c.m, c.n, a, b, out, nullptr);
      break;
  }
}

// A and B (uniform in [-1, 1), stored as the case's kind stores them) and the exact product,
// rounded to float: in double on the reference loop when that is quick, else on BLAS in float,
// whose own error (~1e-7 * sqrt(K) of the outputs' rms) is far inside the tolerances below.
// Computed once per case and shared by every GPU version of it (both math modes); only the last
// case is kept, since a case's benchmarks run one after another.
struct GemmData {
  std::string key;
  std::vector<float> a, b, ref;
};

const GemmData& gemm_data(const GemmCase& c) {
  static GemmData data;
  if (data.key == c.name) return data;
  data = GemmData{};
  data.a = random_floats(c.m * c.k, 100 + c.m + 3 * c.n + 7 * c.k);
  data.b = random_floats(c.k * c.n, 200 + c.m + 3 * c.n + 7 * c.k);
  data.ref.assign(static_cast<std::size_t>(c.m * c.n), -7.f);
  if (2.0 * c.m * c.n * c.k <= 2e8) {
    const std::vector<double> a(data.a.begin(), data.a.end()), b(data.b.begin(), data.b.end());
    std::vector<double> ref(data.ref.size());
    cpu_reference<double>(c, a.data(), b.data(), ref.data());
    data.ref.assign(ref.begin(), ref.end());
  } else {
    cpu_blas(c, data.a.data(), data.b.data(), data.ref.data());
  }
  data.key = c.name;
  return data;
}

// Inputs are uniform in [-1, 1), so an output sums K products of rms 1/3 and has rms sqrt(K)/3.
// Allowed error per element, absolute: rel * (1 + sqrt(K)), as tests/cuda/conv_linear_test.cpp
// argues it: FP32 (rel 1e-4) covers float accumulation in any order with room to spare; TF32
// (rel 2e-3) covers operands rounded to 10 mantissa bits, whose errors add like a random walk.
// A wrong index or transposition errs by about the rms itself.
// Plus, in TF32, 3e-3 of the element itself: a library may truncate operands to TF32 rather than
// round them, which shrinks every product by up to ~1e-3 of its size, systematically; on the
// largest outputs of a 67M-element result that alone would reach the absolute bound.
[[maybe_unused]] double rel_tolerance(bool tf32) { return tf32 ? 3e-3 : 0.0; }  // CUDA rows only

double tolerance(bool tf32, std::int64_t k) {
  return (tf32 ? 2e-3 : 1e-4) * (1.0 + std::sqrt(static_cast<double>(k)));
}

void register_cpu(const GemmCase& c) {
  const std::string group = "gemm/" + c.name + "/cpu";
  benchmark::RegisterBenchmark(
      (group + "/reference").c_str(), guarded([c, group](benchmark::State& st) {
        const GemmData& d = gemm_data(c);
        std::vector<float> out(d.ref.size());
        run_cpu(st, [&] { cpu_reference<float>(c, d.a.data(), d.b.data(), out.data()); },
                gemm_work(c, Bound::ComputeFP32), {group, true});
      }))
      ->UseManualTime();
  benchmark::RegisterBenchmark(
      (group + "/openblas").c_str(), guarded([c, group](benchmark::State& st) {
        const GemmData& d = gemm_data(c);
        std::vector<float> out(d.ref.size(), -9.f);
        cpu_blas(c, d.a.data(), d.b.data(), out.data());
        if (!verify(st, out, d.ref, 0, tolerance(false, c.k), "OpenBLAS sgemm")) return;
        run_cpu(st, [&] { cpu_blas(c, d.a.data(), d.b.data(), out.data()); },
                gemm_work(c, Bound::ComputeFP32), {group, false});
      }))
      ->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

using cuda::MathModeScope;

// cuBLAS through Kiln's Dense kernels without bias, in the current math mode.
void cublas_gemm(const GemmCase& c, const float* a, const float* b, float* out) {
  switch (c.kind) {
    case GemmKind::ForwardNN:
      cuda::linear_forward(c.m, c.k, c.n, a, b, nullptr, out);
      break;
    case GemmKind::BackwardDataNT:
      cuda::linear_backward_data(c.m, c.n, c.k, a, b, out);
      break;
    case GemmKind::BackwardWeightTN:
      cuda::linear_backward_weight(c.k, c.m, c.n, a, b, out, nullptr);
      break;
  }
}

void register_gpu(const GemmCase& c) {
  for (const bool tf32 : {false, true}) {
    const cuda::MathMode mode = tf32 ? cuda::MathMode::TF32 : cuda::MathMode::FP32;
    const Bound bound = tf32 ? Bound::ComputeTF32 : Bound::ComputeFP32;
    const std::string group = "gemm/" + c.name + (tf32 ? "/gpu_tf32" : "/gpu_fp32");
    benchmark::RegisterBenchmark((group + "/cublas").c_str(), guarded([=](benchmark::State& st) {
                                   const MathModeScope scope(mode);
                                   const GemmData& d = gemm_data(c);
                                   gpu::Buffer<float> a(d.a), b(d.b), out(d.ref.size(), -9.f);
                                   cublas_gemm(c, a.get(), b.get(), out.get());
                                   if (!verify(st, out.download(), d.ref, rel_tolerance(tf32),
                                               tolerance(tf32, c.k), "cuBLAS"))
                                     return;
                                   gpu::run(st,
                                            [&] { cublas_gemm(c, a.get(), b.get(), out.get()); },
                                            gemm_work(c, bound), {group, true});
                                 }))
        ->UseManualTime()
        ->Iterations(gpu::iterations());
    benchmark::RegisterBenchmark((group + "/kiln").c_str(), guarded([=](benchmark::State& st) {
                                   const MathModeScope scope(mode);
                                   const cuda::GemmPrecision precision =
                                       tf32 ? cuda::GemmPrecision::TF32 : cuda::GemmPrecision::FP32;
                                   const GemmData& d = gemm_data(c);
                                   gpu::Buffer<float> a(d.a), b(d.b), out(d.ref.size(), -9.f);
                                   const auto launch = [&] {
                                     cuda::gemm_kiln(precision, c.trans_a(), c.trans_b(), c.m, c.n,
                                                     c.k, a.get(), b.get(), out.get());
                                   };
                                   launch();
                                   if (!verify(st, out.download(), d.ref, rel_tolerance(tf32),
                                               tolerance(tf32, c.k), "cuda::gemm_kiln"))
                                     return;
                                   gpu::run(st, launch, gemm_work(c, bound), {group, false});
                                 }))
        ->UseManualTime()
        ->Iterations(gpu::iterations());
  }
}
#endif

void register_all() {
  for (const GemmCase& c : cases()) {
    if (c.on_cpu) register_cpu(c);
  }
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) {
    for (const GemmCase& c : cases()) register_gpu(c);
  }
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
