// A host emulation of CUDA's execution model, just enough for a host compiler to build and run
// Kiln's hand-written kernels (kernels/cuda/implicit_gemm_kernels.cuh) on the CPU, so their tiling
// is tested in every CI build, GPU or not. Include it FIRST in a test, before any kernel header:
// it defines the keywords and built-ins that nvcc would, and __CUDA_ARCH__ (800, so sm_80 paths
// such as the TF32 wmma kernel are compiled). Never include it from library code.
//
// The model, and why it is faithful where it matters:
//   - emulate_launch(grid, block, kernel, args...) runs the blocks one after another; a block is
//     blockDim.x std::threads (1-D blocks, as Kiln's kernels use; the threads are pooled across
//     blocks and launches), each running the kernel with its own copy of the arguments, and every
//     thread finishes a block before any starts the next.
//   - __shared__ is `static`: a function-local static is one object seen by every thread of the
//     block, and since blocks never overlap it is exactly CUDA's per-block shared memory (which,
//     like CUDA's, starts each block holding stale values that a correct kernel never reads).
//   - __syncthreads() is a barrier over the block's threads, __syncwarp() one over the caller's
//     warp (32 threads). A thread that returns leaves both, so a kernel whose threads return early
//     while others still sync runs on rather than hanging the test.
//   - Every emulated thread is an OS thread, so a missing barrier is a real data race here too,
//     and in practice a wrong result (without the TF32 epilogue's first __syncwarp, lanes read the
//     staging buffer before lane 0 has written it, and the test fails).
//   - nvcuda::wmma keeps the WHOLE tile in every lane's fragment: load_matrix_sync reads it with
//     the documented layout and ldm, mma_sync computes the full 16x16x8 product, store_matrix_sync
//     writes it from lane 0 only (the other lanes hold the same tile, and identical racing writes
//     would still be races). Real fragments spread a tile over the warp in an unspecified map, so
//     the emulation checks a kernel's use of the documented API (fragment uses, layouts, ldm,
//     pointer alignment, syncing before reading what another lane stored), not the hardware's
//     private element mapping.
#pragma once

#if defined(__CUDACC__)
#error "tests/support/cuda_emulation.h is for host compilers; nvcc has the real CUDA"
#endif

#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#define KILN_CUDA_EMULATION 1
#define __CUDA_ARCH__ 800

#define __global__
#define __device__
#define __host__
#define __launch_bounds__(...)
// As CUDA's own host headers define it: `__shared__ __align__(16) float a[..]` puts the alignment
// between decl-specifiers, where a standard alignas is not allowed but a GNU attribute is.
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static

namespace kiln::cuda_emulation {

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};

// The overloads of CUDA's global min that the kernels use.
inline int min(int a, int b) { return a < b ? a : b; }

// A reusable barrier for `count` threads: a mutex, a condition variable and a generation counter,
// so that a thread released from one phase cannot be caught by the next. leave() is a thread's
// exit: it stops counting, and may complete the phase that the others are waiting in.
class Barrier {
 public:
  explicit Barrier(int count) : count_(count) {}

  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == count_) {
      release(lock);
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }

  void leave() {
    std::unique_lock<std::mutex> lock(mutex_);
    --count_;
    if (arrived_ > 0 && arrived_ == count_) release(lock);
  }

 private:
  // Notifying after unlocking spares the woken threads from queueing on the mutex behind the
  // notifier: 3x faster with 256 threads on 2 cores.
  void release(std::unique_lock<std::mutex>& lock) {
    arrived_ = 0;
    ++generation_;
    lock.unlock();
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  int count_, arrived_ = 0;
  std::uint64_t generation_ = 0;
};

constexpr unsigned kWarpSize = 32;

// What the threads of the running block share besides __shared__ memory: its barriers.
class Block {
 public:
  explicit Block(unsigned threads) : block_(static_cast<int>(threads)) {
    for (unsigned first = 0; first < threads; first += kWarpSize)
      warps_.push_back(std::make_unique<Barrier>(
          static_cast<int>(threads - first < kWarpSize ? threads - first : kWarpSize)));
  }
  Barrier& block() { return block_; }
  Barrier& warp(unsigned thread) { return *warps_[thread / kWarpSize]; }

 private:
  Barrier block_;
  std::vector<std::unique_ptr<Barrier>> warps_;
};

inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline dim3 blockDim, gridDim;  // written only between launches, while no kernel thread runs
inline thread_local Block* current_block = nullptr;

// A broken API rule is the kernel's bug, reported loudly, as CUDA would fail the launch.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "CUDA emulation: %s (block %u,%u,%u thread %u)\n", what, blockIdx.x,
               blockIdx.y, blockIdx.z, threadIdx.x);
  std::abort();
}

inline void __syncthreads() { current_block->block().arrive_and_wait(); }

// Only the full mask: Kiln's kernels sync whole warps.
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  if (mask != 0xffffffffu) fail("__syncwarp with a partial mask is not emulated");
  current_block->warp(threadIdx.x).arrive_and_wait();
}

// kernels/cuda/launch.h's grid-stride helpers (that header includes cuda_runtime.h).
inline std::int64_t grid_start() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
inline std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// The OS threads that play CUDA threads: created once, as many as the widest block launched so far,
// and reused by every launch (creating 256 threads costs more than running a small kernel).
class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }

  // Runs job(t) on threads t = 0 .. n-1 and returns when all have finished. One caller at a time.
  void run(unsigned n, const std::function<void(unsigned)>& job) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (workers_.size() < n) {
      const auto t = static_cast<unsigned>(workers_.size());
      workers_.emplace_back([this, t, seen = generation_] { work(t, seen); });
    }
    job_ = &job;
    width_ = n;
    pending_ = n;
    ++generation_;
    lock.unlock();
    start_.notify_all();
    lock.lock();
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++generation_;
    }
    start_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  }

 private:
  ThreadPool() = default;

  void work(unsigned t, std::uint64_t seen) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      start_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      if (t >= width_) continue;
      const std::function<void(unsigned)>& job = *job_;
      lock.unlock();
      job(t);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(unsigned)>* job_ = nullptr;
  unsigned width_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

// kernel<<<grid, block>>>(args...), synchronously: blocks in order x, then y, then z, each run by
// blockDim.x threads, all of which finish one block before any starts the next.
template <class... Params, class... Args>
void emulate_launch(dim3 grid, dim3 block, void (*kernel)(Params...), const Args&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "emulate_launch: wrong number of arguments");
  if (block.x == 0 || block.y != 1 || block.z != 1) fail("only 1-D, non-empty blocks are emulated");
  gridDim = grid;
  blockDim = block;
  const std::size_t blocks = static_cast<std::size_t>(grid.x) * grid.y * grid.z;
  std::vector<std::unique_ptr<Block>> state;  // each block's barriers, fresh
  for (std::size_t b = 0; b < blocks; ++b) state.push_back(std::make_unique<Block>(block.x));
  Barrier block_done(static_cast<int>(block.x));
  ThreadPool::instance().run(block.x, [&](unsigned t) {
    threadIdx = uint3{t, 0, 0};
    for (std::size_t b = 0; b < blocks; ++b) {
      blockIdx =
          uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                static_cast<unsigned>(b / grid.x / grid.y)};
      current_block = state[b].get();
      kernel(args...);  // each thread converts the arguments to its own parameters
      current_block->warp(t).leave();
      current_block->block().leave();
      current_block = nullptr;
      block_done.arrive_and_wait();
    }
  });
}

}  // namespace kiln::cuda_emulation

using kiln::cuda_emulation::__syncthreads;
using kiln::cuda_emulation::__syncwarp;
using kiln::cuda_emulation::blockDim;
using kiln::cuda_emulation::blockIdx;
using kiln::cuda_emulation::dim3;
using kiln::cuda_emulation::float4;
using kiln::cuda_emulation::grid_start;
using kiln::cuda_emulation::grid_stride;
using kiln::cuda_emulation::gridDim;
using kiln::cuda_emulation::min;
using kiln::cuda_emulation::threadIdx;
using kiln::cuda_emulation::uint3;

// nvcuda::wmma, exactly what the TF32 kernel uses: m16n16k8 fragments of precision::tf32 (A, B)
// and float (accumulator). A fragment holds its whole tile, row-major, in every lane.
namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

namespace emulation {
template <class Use, int M, int N, int K>
struct TileShape;  // rows x cols of the tile a fragment holds
template <int M, int N, int K>
struct TileShape<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct TileShape<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct TileShape<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

// wmma's rules for 32-bit elements: a 256-bit aligned pointer, ldm a multiple of 4 elements.
inline void check_pointer_and_ldm(const float* p, unsigned ldm) {
  if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0)
    kiln::cuda_emulation::fail("wmma: matrix pointer not 256-bit aligned");
  if (ldm % 4 != 0) kiln::cuda_emulation::fail("wmma: ldm not a multiple of 4 floats");
}

// v as a TF32 multiplicand: its low 13 mantissa bits dropped. Rounding them first with
// __float_to_tf32 is the kernel's job (wmma's documented rule for precision::tf32); a value so
// rounded passes unchanged, and one that was not is truncated, the least accurate choice.
inline float tf32_bits(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= 0xffffe000u;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
}  // namespace emulation

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 8, "only m16n16k8 is emulated");
  static_assert(std::is_same_v<Use, accumulator> ? std::is_same_v<T, float>
                                                 : std::is_same_v<T, precision::tf32>,
                "only TF32 A/B and float accumulator fragments are emulated");
  static constexpr int rows = emulation::TileShape<Use, M, N, K>::rows;
  static constexpr int cols = emulation::TileShape<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols;
  float x[num_elements];  // element (r, c) of the tile at x[r * cols + c]
};

// Rounds to TF32 (10 mantissa bits): to nearest, ties away from zero, as cvt.rna.tf32.f32 does.
// Inf and NaN pass through.
inline float __float_to_tf32(float v) {
  if (!std::isfinite(v)) return v;
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits = (bits + 0x1000u) & 0xffffe000u;  // half an ulp of TF32 added to the magnitude, truncated
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

template <class Use, int M, int N, int K, class T, class Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const float* p, unsigned ldm) {
  static_assert(std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>,
                "an A or B fragment names its layout");
  emulation::check_pointer_and_ldm(p, ldm);
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c)
      f.x[r * F::cols + c] = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r];
}

template <class Use, int M, int N, int K, class T, class Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
  for (float& e : f.x) e = v;
}

// d = a * b + c, accumulating in float (d may be c). Products of TF32 values are exact in float
// (11 + 11 significant bits), so each step rounds once, at the addition, as an FMA would.
template <int M, int N, int K, class LayoutA, class LayoutB>
void mma_sync(fragment<accumulator, M, N, K, float>& d,
              const fragment<matrix_a, M, N, K, precision::tf32, LayoutA>& a,
              const fragment<matrix_b, M, N, K, precision::tf32, LayoutB>& b,
              const fragment<accumulator, M, N, K, float>& c) {
  float ta[M * K], tb[K * N], out[M * N];
  for (int i = 0; i < M * K; ++i) ta[i] = emulation::tf32_bits(a.x[i]);
  for (int i = 0; i < K * N; ++i) tb[i] = emulation::tf32_bits(b.x[i]);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      float sum = c.x[i * N + j];
      for (int k = 0; k < K; ++k) sum += ta[i * K + k] * tb[k * N + j];
      out[i * N + j] = sum;
    }
  }
  std::memcpy(d.x, out, sizeof out);
}

// Lane 0 writes the tile; the other lanes must __syncwarp() before reading it, as on the GPU, where
// each lane writes only its own elements.
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm,
                       layout_t layout) {
  emulation::check_pointer_and_ldm(p, ldm);
  if (kiln::cuda_emulation::threadIdx.x % kiln::cuda_emulation::kWarpSize != 0) return;
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}

}  // namespace nvcuda::wmma
