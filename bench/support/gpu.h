// GPU side of the benchmark machinery (bench/support/bench.h). Everything is queued on Kiln's
// stream (kernels/cuda/runtime.h), so Kiln's kernels, the cuDNN/cuBLAS rivals (use
// kernels::cuda::DeviceLease for their handles, which are bound to that stream) and the timing
// events are all ordered with each other. Compiled only when KILN_WITH_CUDA.
#pragma once

#include <functional>
#include <string>

#include "bench/support/bench.h"

namespace kiln::bench::gpu {

// Whether a CUDA device is usable; if not, *why says why (for the "skipped" line).
bool available(std::string* why);

// The device's ceilings, measured on first call: device-to-device copy bandwidth (1 GiB, read +
// write bytes), and cuBLAS SGEMM at 8192^3 in FP32 and in TF32.
const Ceilings& ceilings();

// Per iteration: flush the L2 cache (a memset of twice its size, so no input is still cached from
// the verification or the previous iteration), record a CUDA event, queue launch(), record another,
// wait, and hand the elapsed time to Google Benchmark (SetIterationTime). Then report()s.
// Register GPU benchmarks with ->UseManualTime().
void run(benchmark::State& state, const std::function<void()>& launch, const Work& work,
         const Role& role);

// Iterations of every GPU row: fixed (KILN_BENCH_GPU_ITERATIONS, default 30), not grown until
// --benchmark_min_time is reached. Each iteration is timed alone and the median is reported, so 30
// samples are plenty; and a fixed count runs each row's setup and verification ONCE (Google
// Benchmark re-runs the whole row body each time it grows the count), while a microsecond kernel
// behind a ~35 us L2 flush would otherwise need thousands of iterations to fill min_time.
int iterations();

// "NVIDIA H100 80GB HBM3, driver 13.0, CUDA runtime 13.0, cuDNN 91900, L2 50 MiB" for the context.
std::string describe_device();

}  // namespace kiln::bench::gpu

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/device_memory.h"

namespace kiln::bench::gpu {

// A typed device array for benchmarks: upload from a host vector, download to one.
template <typename T>
class Buffer {
 public:
  explicit Buffer(const std::vector<T>& host)
      : data_(static_cast<T*>(kernels::cuda::allocate(sizeof(T) * host.size()))),
        size_(host.size()) {
    kernels::cuda::copy_host_to_device(data_.get(), host.data(), sizeof(T) * size_);
  }
  Buffer(std::size_t n, T value) : Buffer(std::vector<T>(n, value)) {}
  T* get() { return data_.get(); }
  const T* get() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::vector<T> download() const {
    std::vector<T> host(size_);
    kernels::cuda::copy_device_to_host(host.data(), data_.get(), sizeof(T) * size_);
    return host;
  }

 private:
  struct Free {
    void operator()(T* p) const noexcept { kernels::cuda::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace kiln::bench::gpu
