// GPU side of the benchmark machinery; see gpu.h. Compiled only when KILN_WITH_CUDA.
#include "bench/support/gpu.h"

#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_memory.h"
#include "kernels/linear.h"

namespace kiln::bench::gpu {
namespace {

namespace cuda = kernels::cuda;

struct DeviceFree {
  void operator()(void* p) const noexcept { cuda::free(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

// CUDA events on Kiln's stream, reused by every timed iteration.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    CUDA_REPORT(cudaEventDestroy(start));
    CUDA_REPORT(cudaEventDestroy(stop));
  }
  // Seconds taken by launch() on Kiln's stream.
  double time(const std::function<void()>& launch) {
    cudaStream_t s = cuda::stream();
    CUDA_CHECK(cudaEventRecord(start, s));
    launch();
    CUDA_CHECK(cudaEventRecord(stop, s));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms * 1e-3;
  }
};

// A buffer twice the L2's size: writing it evicts everything a kernel's inputs left in L2.
class L2Flusher {
 public:
  L2Flusher() {
    int device = 0, l2 = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
    bytes_ = 2 * static_cast<std::size_t>(l2 > 0 ? l2 : (64 << 20));
    buffer_.reset(cuda::allocate(bytes_));
  }
  void flush() { CUDA_CHECK(cudaMemsetAsync(buffer_.get(), 0, bytes_, cuda::stream())); }

 private:
  std::size_t bytes_ = 0;
  DevicePtr buffer_;
};

L2Flusher& flusher() {
  static L2Flusher* const f = new L2Flusher();  // lives until exit, like the device context
  return *f;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

bool available(std::string* why) {
  if (cuda::available()) return true;
  if (why != nullptr) *why = cuda::unavailable_reason();
  return false;
}

const Ceilings& ceilings() {
  static const Ceilings c = [] {
    Ceilings out;
    EventPair events;
    {  // copy bandwidth: 1 GiB device to device, counted as bytes read + bytes written
      const std::size_t bytes = std::size_t{1} << 30;
      DevicePtr a(cuda::allocate(bytes)), b(cuda::allocate(bytes));
      cuda::memset_zero(a.get(), bytes);
      std::vector<double> s;
      for (int i = 0; i < 6; ++i) {
        s.push_back(events.time([&] {
          CUDA_CHECK(
              cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, cuda::stream()));
        }));
      }
      out.copy_gbs = 2.0 * bytes / median_of(s) / 1e9;
    }
    // GEMM: cuBLAS through Kiln's Dense kernel without bias, 8192^3, in both math modes.
    const std::int64_t n = 8192;
    const std::vector<float> host = random_floats(n * n, 7);
    const std::size_t bytes = sizeof(float) * host.size();
    DevicePtr x(cuda::allocate(bytes)), w(cuda::allocate(bytes)), y(cuda::allocate(bytes));
    cuda::copy_host_to_device(x.get(), host.data(), bytes);
    cuda::copy_host_to_device(w.get(), host.data(), bytes);
    for (cuda::MathMode mode : {cuda::MathMode::FP32, cuda::MathMode::TF32}) {
      const cuda::MathModeScope scope(mode);
      std::vector<double> s;
      for (int i = 0; i < 4; ++i) {
        s.push_back(events.time([&] {
          cuda::linear_forward(n, n, n, static_cast<const float*>(x.get()),
                               static_cast<const float*>(w.get()), nullptr,
                               static_cast<float*>(y.get()));
        }));
      }
      const double tflops = 2.0 * n * n * n / median_of(s) / 1e12;
      (mode == cuda::MathMode::FP32 ? out.gemm_fp32_tflops : out.gemm_tf32_tflops) = tflops;
    }
    return out;
  }();
  return c;
}

void run(benchmark::State& state, const std::function<void()>& launch, const Work& work,
         const Role& role) {
  static EventPair* const events = new EventPair();
  std::vector<double> seconds;
  for (auto _ : state) {
    flusher().flush();
    const double s = events->time(launch);
    state.SetIterationTime(s);
    seconds.push_back(s);
  }
  report(state, seconds, work, role, ceilings());
}

int iterations() {
  static const int n = [] {
    const char* env = std::getenv("KILN_BENCH_GPU_ITERATIONS");
    const int v = env != nullptr ? std::atoi(env) : 0;
    return v > 0 ? v : 30;
  }();
  return n;
}

std::string describe_device() {
  int device = 0, driver = 0, runtime = 0, l2 = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  CUDA_CHECK(cudaDriverGetVersion(&driver));
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s (sm_%d%d, %d SMs), driver %d.%d, CUDA runtime %d.%d, cuDNN %zu, L2 %d MiB",
                prop.name, prop.major, prop.minor, prop.multiProcessorCount, driver / 1000,
                (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10,
                static_cast<std::size_t>(cudnnGetVersion()), l2 >> 20);
  return buf;
}

}  // namespace kiln::bench::gpu
