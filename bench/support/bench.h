// Shared machinery of Kiln's kernel benchmarks (bench/*_bench.cpp), llm.c style: every version of a
// kernel (the CPU reference, Kiln's fast CPU path, Kiln's hand-written CUDA kernels, and the
// cuDNN/cuBLAS call as one more version) is first verified against the reference on fresh random
// data, then timed; each report line carries the median time, the achieved GB/s or TFLOP/s, the
// percentage of the rival's speed and the percentage of the machine's measured ceiling.
//
// Timing. Every iteration is timed on its own (wall clock on the CPU, CUDA events around the launch
// on the GPU, with the L2 cache flushed before each: see gpu.h) and handed to Google Benchmark as
// manual time; the counters are computed here from the MEDIAN iteration, because Google Benchmark's
// own rate counters divide by CPU time, which for a GPU kernel is the host's launch overhead.
//
// Rivals. Benchmarks of one kernel on one size share a `group`; the one marked as the rival (cuDNN,
// cuBLAS, oneDNN, or the reference on the CPU) must be registered first, and every later member of
// the group reports %rival = rival's median / its median * 100 (above 100: faster than the rival).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace kiln::bench {

// What limits a kernel, so its %ceiling is taken against the right measured ceiling.
enum class Bound { Memory, ComputeFP32, ComputeTF32 };

// One iteration's work. Bytes: the minimum traffic (each input read once, each output written
// once); flops: 2 per multiply-add.
struct Work {
  double bytes = 0;
  double flops = 0;
  Bound bound = Bound::Memory;
};

// Identity of a benchmark within its group (see the file comment).
struct Role {
  std::string group;
  bool is_rival = false;
};

// The machine's measured ceilings, one set per device kind. Zero where not measured.
struct Ceilings {
  double copy_gbs = 0;          // read + write bytes per second of a large copy, in GB/s
  double gemm_fp32_tflops = 0;  // a large FP32 GEMM (OpenBLAS on the CPU, cuBLAS on the GPU)
  double gemm_tf32_tflops = 0;  // the same on TF32 tensor cores (GPU only)
};

// Sets the counters from the iterations' times (seconds): ms (median), GB/s, TFLOP/s, %rival,
// %ceiling. Records the median for the group when role.is_rival.
void report(benchmark::State& state, const std::vector<double>& seconds, const Work& work,
            const Role& role, const Ceilings& ceilings);

// Times fn() once per iteration with the wall clock (CPU kernels), after evicting the caches (a
// write of twice the last-level cache), then report()s. Google Benchmark is handed flush + kernel
// time, so --benchmark_min_time bounds the wall time; the `ms` counter is the kernel alone.
void run_cpu(benchmark::State& state, const std::function<void()>& fn, const Work& work,
             const Role& role);

// The CPU's ceilings: memcpy bandwidth and OpenBLAS sgemm at 2048^3, measured on first call.
const Ceilings& cpu_ceilings();

// Compares `got` with the reference: |got - ref| <= abs_tol + rel_tol * |ref| everywhere (NaN
// fails). On a mismatch it marks the program failed (run_main returns 1), names the first bad
// element, calls state.SkipWithError and returns false: a wrong kernel is never timed.
bool verify(benchmark::State& state, const std::vector<float>& got, const std::vector<float>& ref,
            double rel_tol, double abs_tol, const std::string& what);
// The same for integer outputs (argmax indices), exact.
bool verify_exact(benchmark::State& state, const std::vector<std::int32_t>& got,
                  const std::vector<std::int32_t>& ref, const std::string& what);
// Marks the program failed with a message (printed at exit).
void fail(benchmark::State& state, const std::string& message);

// Wraps a benchmark body so an exception (an unsupported shape, a CUDA error) fails that one row,
// naming it, instead of ending the program.
template <typename F>
auto guarded(F body) {
  return [body](benchmark::State& st) {
    try {
      body(st);
    } catch (const std::exception& e) {
      fail(st, e.what());
    }
  };
}

// Uniform floats in [lo, hi), reproducible from the seed.
std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float lo = -1.f,
                                 float hi = 1.f);

// VGG16's 13 convolution layers and the sizes the issue asks for.
struct VggConv {
  const char* name;     // Keras' name, e.g. "block3_conv2"
  std::int64_t c, k;    // input and output channels
  std::int64_t hw_div;  // the layer's map is image / hw_div pixels on a side
};
const std::vector<VggConv>& vgg16_convs();

struct Size {
  const char* name;  // "32px_b64"
  std::int64_t batch, image;
};
// 32x32 at batch 64 and 256, 224x224 at batch 16.
const std::vector<Size>& vgg16_sizes();

// Initialises Google Benchmark, adds the machine's description and ceilings to the context,
// calls register_all (which registers with benchmark::RegisterBenchmark, GPU benchmarks only when
// gpu::available()), runs, and returns 1 if any verification failed, else 0.
int run_main(int argc, char** argv, const std::function<void()>& register_all);

}  // namespace kiln::bench
