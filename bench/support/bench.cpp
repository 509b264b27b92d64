// CPU side of the benchmark machinery; see bench.h.
#include "bench/support/bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "kernels/linear.h"

#if KILN_WITH_CUDA
#include "bench/support/gpu.h"
#endif

namespace kiln::bench {
namespace {

std::mutex g_mutex;
std::map<std::string, double> g_rival_seconds;  // group -> the rival's median
std::vector<std::string> g_failures;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

// Median seconds of `runs` calls of fn, after one warm-up call.
double median_seconds(int runs, const std::function<void()>& fn) {
  fn();
  std::vector<double> s;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(s);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A buffer larger than the last-level cache: writing it before each timed CPU iteration evicts the
// kernel's inputs, as the L2 flush does on the GPU, so small cases are not timed from cache.
void flush_cpu_caches() {
  static std::vector<char>* const buffer = [] {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    const std::size_t bytes = std::max<std::size_t>(std::size_t{64} << 20, l3 > 0 ? 2 * l3 : 0);
    return new std::vector<char>(bytes);
  }();
  static char value = 0;
  std::memset(buffer->data(), ++value, buffer->size());
}

}  // namespace

void report(benchmark::State& state, const std::vector<double>& seconds, const Work& work,
            const Role& role, const Ceilings& ceilings) {
  const double t = median(seconds);
  if (t <= 0) return;
  state.counters["ms"] = t * 1e3;
  double achieved = 0, ceiling = 0;
  if (work.bytes > 0) state.counters["GB/s"] = work.bytes / t / 1e9;
  if (work.flops > 0) state.counters["TFLOP/s"] = work.flops / t / 1e12;
  switch (work.bound) {
    case Bound::Memory:
      achieved = work.bytes / t / 1e9;
      ceiling = ceilings.copy_gbs;
      break;
    case Bound::ComputeFP32:
      achieved = work.flops / t / 1e12;
      ceiling = ceilings.gemm_fp32_tflops;
      break;
    case Bound::ComputeTF32:
      achieved = work.flops / t / 1e12;
      ceiling = ceilings.gemm_tf32_tflops;
      break;
  }
  if (ceiling > 0 && achieved > 0) state.counters["%ceiling"] = 100.0 * achieved / ceiling;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (role.is_rival) {
    g_rival_seconds[role.group] = t;
  } else {
    const auto rival = g_rival_seconds.find(role.group);
    if (rival != g_rival_seconds.end()) state.counters["%rival"] = 100.0 * rival->second / t;
  }
}

void run_cpu(benchmark::State& state, const std::function<void()>& fn, const Work& work,
             const Role& role) {
  std::vector<double> seconds;
  for (auto _ : state) {
    const auto t_flush = std::chrono::steady_clock::now();
    flush_cpu_caches();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    // Google Benchmark is given the flush too, so that its iteration count (chosen to fill
    // --benchmark_min_time) is bounded by wall time: a 3 us kernel behind a 5 ms flush would
    // otherwise run for hours. Its Time column is therefore kernel + flush on CPU rows; the `ms`
    // counter is the kernel's own median.
    state.SetIterationTime(std::chrono::duration<double>(t1 - t_flush).count());
  }
  report(state, seconds, work, role, cpu_ceilings());
}

const Ceilings& cpu_ceilings() {
  static const Ceilings c = [] {
    Ceilings out;
    // STREAM's copy kernel (b[i] = a[i], counted as bytes read + bytes written) on every OpenMP
    // thread, compiled like Kiln's own elementwise kernels: that is the bandwidth they can reach.
    // (glibc's memcpy measured ~20% lower here: it switches to non-temporal stores at this size.)
    const std::int64_t count = std::int64_t{64} << 20;  // 256 MiB of floats per buffer
    std::vector<float> a(static_cast<std::size_t>(count), 1.f),
        b(static_cast<std::size_t>(count), 0.f);
    const auto stream_copy = [&] {
      const float* src = a.data();
      float* dst = b.data();
#pragma omp parallel for simd schedule(static)
      for (std::int64_t i = 0; i < count; ++i) dst[i] = src[i];
    };
    out.copy_gbs = 2.0 * sizeof(float) * count / median_seconds(5, stream_copy) / 1e9;
    const std::int64_t n = 2048;
    const std::vector<float> x = random_floats(n * n, 1), w = random_floats(n * n, 2);
    std::vector<float> y(static_cast<std::size_t>(n * n));
    const double s = median_seconds(3, [&] {
      kernels::cpu::linear_forward_blas(n, n, n, x.data(), w.data(), nullptr, y.data());
    });
    out.gemm_fp32_tflops = 2.0 * n * n * n / s / 1e12;
    return out;
  }();
  return c;
}

void fail(benchmark::State& state, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_failures.push_back(message);
  }
  state.SkipWithError(message.c_str());
}

bool verify(benchmark::State& state, const std::vector<float>& got, const std::vector<float>& ref,
            double rel_tol, double abs_tol, const std::string& what) {
  if (got.size() != ref.size()) {
    fail(state, what + ": " + std::to_string(got.size()) + " outputs, reference has " +
                    std::to_string(ref.size()));
    return false;
  }
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - ref[i]);
    if (!(err <= abs_tol + rel_tol * std::abs(static_cast<double>(ref[i])))) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad == 0) return true;
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << ref.size() << " elements differ from the reference; "
      << "first at " << first << ": " << got[first] << " vs " << ref[first];
  fail(state, msg.str());
  return false;
}

bool verify_exact(benchmark::State& state, const std::vector<std::int32_t>& got,
                  const std::vector<std::int32_t>& ref, const std::string& what) {
  if (got == ref) return true;
  std::size_t first = 0;
  while (first < got.size() && first < ref.size() && got[first] == ref[first]) ++first;
  fail(state, what + ": differs from the reference at element " + std::to_string(first));
  return false;
}

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& f : v) f = dist(rng);
  return v;
}

const std::vector<VggConv>& vgg16_convs() {
  static const std::vector<VggConv> convs = {
      {"block1_conv1", 3, 64, 1},     {"block1_conv2", 64, 64, 1},
      {"block2_conv1", 64, 128, 2},   {"block2_conv2", 128, 128, 2},
      {"block3_conv1", 128, 256, 4},  {"block3_conv2", 256, 256, 4},
      {"block3_conv3", 256, 256, 4},  {"block4_conv1", 256, 512, 8},
      {"block4_conv2", 512, 512, 8},  {"block4_conv3", 512, 512, 8},
      {"block5_conv1", 512, 512, 16}, {"block5_conv2", 512, 512, 16},
      {"block5_conv3", 512, 512, 16},
  };
  return convs;
}

const std::vector<Size>& vgg16_sizes() {
  static const std::vector<Size> sizes = {
      {"32px_b64", 64, 32}, {"32px_b256", 256, 32}, {"224px_b16", 16, 224}};
  return sizes;
}

int run_main(int argc, char** argv, const std::function<void()>& register_all) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  const Ceilings& cpu = cpu_ceilings();
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("cpu_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("note",
                              "the ms counter is each row's median kernel time; on CPU rows the "
                              "Time column also includes the cache flush before each iteration");
  benchmark::AddCustomContext("cpu_copy_GB/s", fixed(cpu.copy_gbs, 1));
  benchmark::AddCustomContext("cpu_sgemm_TFLOP/s", fixed(cpu.gemm_fp32_tflops, 3));
#if KILN_WITH_CUDA
  std::string why;
  if (gpu::available(&why)) {
    const Ceilings& g = gpu::ceilings();
    benchmark::AddCustomContext("gpu", gpu::describe_device());
    benchmark::AddCustomContext("gpu_copy_GB/s", fixed(g.copy_gbs, 1));
    benchmark::AddCustomContext("gpu_sgemm_fp32_TFLOP/s", fixed(g.gemm_fp32_tflops, 2));
    benchmark::AddCustomContext("gpu_sgemm_tf32_TFLOP/s", fixed(g.gemm_tf32_tflops, 2));
  } else {
    std::printf("GPU benchmarks skipped: %s\n", why.c_str());
  }
#else
  std::printf("GPU benchmarks skipped: Kiln was built without CUDA\n");
#endif
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_failures.empty()) return 0;
  std::fprintf(stderr, "%zu verification failure(s):\n", g_failures.size());
  for (const std::string& f : g_failures) std::fprintf(stderr, "  %s\n", f.c_str());
  return 1;
}

}  // namespace kiln::bench
