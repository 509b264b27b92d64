// A host emulation of CUDA's execution model, just enough for a host compiler to build and run
// Kiln's hand-written kernels (kernels/cuda/*_kernels.cuh) on the CPU, so that every kernel is
// tested in every CI build, GPU or not. Include it FIRST in a test, before any kernel header: it
// defines the keywords and built-ins that nvcc would, and __CUDA_ARCH__ (800, so sm_80 paths such
// as the TF32 wmma kernel are compiled). Never include it from library code. Tests launch through
// tests/support/emulated_launch.h, which hands the kernels' own launch code
// (kernels/cuda/launch.h's Launch concept) to emulate_launch below.
//
// The model, and why it is faithful where it matters:
//   - emulate_launch(config, kernel, args...) runs the blocks one after another (x fastest, then y,
//     then z); a block is blockDim.x * y * z std::threads (pooled across blocks and launches),
//     each running the kernel with its own copy of the arguments, and every thread finishes a
//     block before any starts the next. Threads are numbered x fastest, and warps are 32
//     consecutive numbers, as on the hardware.
//   - __shared__ is `static`: a function-local static is one object seen by every thread of the
//     block, and since blocks never overlap it is exactly CUDA's per-block shared memory (which,
//     like CUDA's, starts each block holding stale values that a correct kernel never reads).
//   - __syncthreads() is a barrier over the block's threads; a thread that returns leaves it (as
//     on sm_70 and newer, exited threads no longer count).
//   - Warps run in lock step where CUDA requires it: __syncwarp() is a barrier over the caller's
//     warp, and a shuffle (__shfl_sync, _up_, _down_, _xor_) is one too: every lane writes its
//     value to the warp's exchange buffer, waits for the other 31, then reads its source lane.
//     Both demand the full mask and all 32 lanes alive (a partial warp at the end of a block, or a
//     lane that returned) and fail otherwise, as the hardware's result would be undefined there.
//     That is what enforces the block shapes a warp reduction assumes (multiples of 32).
//   - Every emulated thread is an OS thread, so a missing barrier is a real data race here too,
//     and in practice a wrong result (without the TF32 epilogue's first __syncwarp, lanes read the
//     staging buffer before lane 0 has written it, and the test fails).
//   - The hardware's launch limits are checked before a launch, and a launch that breaks one
//     throws LaunchError, as KILN_LAUNCH_CHECK throws after a failed launch: at most 1024 threads
//     a block (x, y <= 1024, z <= 64) and no more than the kernel's __launch_bounds__ (which a
//     launch states in its config, because a host compiler cannot see the attribute); grid x below
//     2^31, y and z at most 65535; static plus dynamic shared memory at most 48 KiB (the limit
//     without an opt-in). Static shared memory is measured, not declared: it is the total size of
//     the kernel's function-local statics, read from the test binary's symbol table (a kernel's
//     __shared__ arrays are those statics), which is what cudaFuncGetAttributes reports on a GPU.
//     Breaking a rule inside a kernel (a partial mask, a shuffle with a lane missing, a barrier
//     that waits for a minute) is reported on stderr and aborts, as a kernel fault would end the
//     process's CUDA context.
//   - Atomics are the compiler's __atomic built-ins on plain memory; the __f*_rn / __d*_rn
//     intrinsics are the plain IEEE operations (the host build has no FMA to contract them into);
//     device math (expf, log, ...) is the host's libm, which may differ from CUDA's by an ulp or
//     two.
//   - nvcuda::wmma keeps the WHOLE tile in every lane's fragment: load_matrix_sync reads it with
//     the documented layout and ldm, mma_sync computes the full 16x16x8 product, store_matrix_sync
//     writes it from lane 0 only (the other lanes hold the same tile, and identical racing writes
//     would still be races). Real fragments spread a tile over the warp in an unspecified map, so
//     the emulation checks a kernel's use of the documented API (fragment uses, layouts, ldm,
//     pointer alignment, syncing before reading what another lane stored), not the hardware's
//     private element mapping.
// What it cannot show: FMA contraction and the GPU's libm ulps, timing and occupancy, and the
// memory model beyond what barriers order (warps here are never scheduled the hardware's way).
#pragma once

#if defined(__CUDACC__)
#error "tests/support/cuda_emulation.h is for host compilers; nvcc has the real CUDA"
#endif

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>  // program_invocation_name
#include <linux/futex.h>
#include <math.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#define KILN_CUDA_EMULATION 1
#define __CUDA_ARCH__ 800

// `inline` so that a kernel header may be included by several test files (nvcc ignores, with a
// warning, `inline` on a __global__ function, so the headers cannot write it themselves).
#define __global__ inline
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

// The overloads of CUDA's global min and max.
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

constexpr unsigned kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// The limits of every GPU Kiln targets (sm_80, sm_90).
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDimXY = 1024, kMaxBlockDimZ = 64;
constexpr unsigned kMaxGridDimX = 0x7fffffffu, kMaxGridDimYZ = 65535;
constexpr std::size_t kMaxSharedBytesPerBlock = 48 * 1024;  // without cudaFuncSetAttribute

// A launch that the hardware would refuse (cudaErrorInvalidConfiguration and kin).
class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How a kernel is launched: <<<grid, block, dynamic_shared_bytes>>>, plus the kernel's
// __launch_bounds__ maximum (0: none declared).
struct LaunchConfig {
  dim3 grid, block;
  std::size_t dynamic_shared_bytes = 0;
  unsigned max_threads = 0;
};

inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline dim3 blockDim, gridDim;  // written only between launches, while no kernel thread runs
inline thread_local unsigned linear_thread = 0;  // threadIdx as the hardware numbers threads

// A broken rule inside a kernel, reported loudly: the other threads of the block may be waiting
// in a barrier, so there is no unwinding from here.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "CUDA emulation: %s (block %u,%u,%u thread %u,%u,%u)\n", what.c_str(),
               blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  std::fflush(stderr);
  std::abort();
}

// A barrier that waits this long is a deadlock (threads of one warp or block waiting in different
// barriers), not a slow machine: a phase of an emulated block takes milliseconds.
constexpr std::chrono::seconds kDeadlockTimeout{60};

// A reusable barrier for `count` threads, lock-free: one atomic word holds (count, arrived), and
// the waiters sleep on a generation counter with futex(2), so that a phase that completes wakes
// its threads without their queueing on a mutex (a condition variable's notify_all makes 256
// woken threads take its mutex one by one: several times slower on 2 cores). leave() is a
// thread's exit: it stops counting, and may complete the phase that the others are waiting in.
// The release/acquire pair on the generation is what orders a phase's writes before the next
// phase's reads, for the kernel and for ThreadSanitizer alike.
class Barrier {
 public:
  explicit Barrier(int count = 0) { reset(count); }

  // For a fresh block; only while no thread uses the barrier.
  void reset(int count) { state_.store(std::uint64_t(count) << 32, std::memory_order_relaxed); }

  // Waits for the phase to complete and returns how many threads took part in it. `on_complete`,
  // if given, runs in the last thread to arrive, before any is released.
  int arrive_and_wait(const char* what, const std::function<void()>* on_complete = nullptr) {
    const std::uint32_t generation = generation_.load(std::memory_order_acquire);
    const std::uint64_t before = state_.fetch_add(1, std::memory_order_acq_rel);
    const auto count = static_cast<std::uint32_t>(before >> 32);
    if (static_cast<std::uint32_t>(before) + 1 == count) {
      if (on_complete != nullptr) (*on_complete)();
      complete(count);
      return static_cast<int>(count);
    }
    wait(generation, what);
    return participants_.load(std::memory_order_relaxed);
  }

  void leave() {
    const std::uint64_t before =
        state_.fetch_sub(std::uint64_t{1} << 32, std::memory_order_acq_rel);
    const auto count = static_cast<std::uint32_t>(before >> 32) - 1;
    const auto arrived = static_cast<std::uint32_t>(before);
    if (arrived > 0 && arrived == count) complete(count);
  }

 private:
  // Only the thread that saw the last arrival gets here, and no thread can arrive or leave until
  // the generation moves (all that take part are waiting).
  void complete(std::uint32_t count) {
    participants_.store(static_cast<int>(count), std::memory_order_relaxed);
    state_.store(std::uint64_t{count} << 32, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&generation_), FUTEX_WAKE_PRIVATE, INT_MAX,
            nullptr, nullptr, 0);
  }

  void wait(std::uint32_t generation, const char* what) {
    for (int i = 0; i < kYields; ++i) {
      if (generation_.load(std::memory_order_acquire) != generation) return;
      std::this_thread::yield();
    }
    const auto deadline = std::chrono::steady_clock::now() + kDeadlockTimeout;
    while (generation_.load(std::memory_order_acquire) == generation) {
      const timespec slice{1, 0};
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&generation_), FUTEX_WAIT_PRIVATE,
              generation, &slice, nullptr, 0);
      if (generation_.load(std::memory_order_acquire) == generation &&
          std::chrono::steady_clock::now() > deadline) {
        fail(std::string(what) + " waited " + std::to_string(kDeadlockTimeout.count()) +
             " s: a deadlock (threads waiting in different barriers, or one that never arrives)");
      }
    }
  }

  // Yielding first lets the threads still on their way run, and often finds the phase complete
  // on return, which costs less than a sleep and a wake: about 2x on 2 cores.
  static constexpr int kYields = 2;
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
                "futex(2) waits on a plain 32-bit word");
  std::atomic<std::uint64_t> state_{0};  // count << 32 | arrived
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<int> participants_{0};  // of the last completed phase
};

// One warp's barrier and shuffle exchange. A shuffle writes slot [parity][lane], waits for the
// warp, reads [parity][source]; each lane flips its parity per shuffle, so the next shuffle writes
// the other half, and the one after it (the same half again) comes only after the barrier of the
// one in between, which no lane reaches before it has read: one barrier per shuffle suffices.
struct Warp {
  Barrier barrier;
  int lanes = 0;  // threads of the block in this warp (< 32 only for the last warp of a block)
  std::uint64_t slots[2][kWarpSize] = {};
  unsigned char parity[kWarpSize] = {};  // each element used by its lane alone
};

// What the threads of the running block share besides __shared__ memory: its barriers.
class Block {
 public:
  explicit Block(unsigned threads)
      : threads_(threads), warps_((threads + kWarpSize - 1) / kWarpSize) {
    reset();
  }

  void reset() {
    block_.reset(static_cast<int>(threads_));
    for (std::size_t w = 0; w < warps_.size(); ++w) {
      const unsigned first = static_cast<unsigned>(w) * kWarpSize;
      warps_[w].lanes =
          static_cast<int>(threads_ - first < kWarpSize ? threads_ - first : kWarpSize);
      warps_[w].barrier.reset(warps_[w].lanes);
      std::memset(warps_[w].parity, 0, sizeof warps_[w].parity);
    }
  }

  Barrier& block() { return block_; }
  Warp& warp(unsigned thread) { return warps_[thread / kWarpSize]; }

 private:
  unsigned threads_;
  Barrier block_;
  std::vector<Warp> warps_;
};

inline thread_local Block* current_block = nullptr;

inline void __syncthreads() { current_block->block().arrive_and_wait("__syncthreads"); }

inline void require_full_warp(unsigned mask, const char* op) {
  if (mask != kFullMask) {
    fail(std::string(op) + " with a partial mask: Kiln's kernels sync whole warps, and the " +
         "emulation runs nothing else");
  }
}

inline void __syncwarp(unsigned mask = kFullMask) {
  require_full_warp(mask, "__syncwarp");
  Warp& warp = current_block->warp(linear_thread);
  const int participants = warp.barrier.arrive_and_wait("__syncwarp");
  if (participants != static_cast<int>(kWarpSize)) {
    fail("__syncwarp with the full mask, but only " + std::to_string(participants) +
         " of the warp's 32 lanes took part (a partial warp, or lanes that returned)");
  }
}

// The exchange behind every shuffle: lane reads the value of source_of(lane), or keeps its own
// when the source is outside its segment (source_of returns -1).
template <typename T, typename SourceOf>
T shuffle(unsigned mask, T v, const char* op, SourceOf source_of) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(std::uint64_t),
                "shuffles move 4- and 8-byte values");
  require_full_warp(mask, op);
  Warp& warp = current_block->warp(linear_thread);
  const unsigned lane = linear_thread % kWarpSize;
  const int half = warp.parity[lane];
  warp.parity[lane] ^= 1;
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  warp.slots[half][lane] = bits;
  const int participants = warp.barrier.arrive_and_wait(op);
  if (participants != static_cast<int>(kWarpSize)) {
    fail(std::string(op) + " with the full mask, but only " + std::to_string(participants) +
         " of the warp's 32 lanes took part (a partial warp: a block size that is not a multiple " +
         "of 32, or lanes that returned)");
  }
  const int source = source_of(static_cast<int>(lane));
  if (source < 0) return v;
  T out;
  bits = warp.slots[half][source];
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

inline void check_width(int width, const char* op) {
  if (width <= 0 || width > static_cast<int>(kWarpSize) || (width & (width - 1)) != 0)
    fail(std::string(op) + ": width " + std::to_string(width) + " is not a power of 2 up to 32");
}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = kWarpSize) {
  check_width(width, "__shfl_sync");
  return shuffle(mask, v, "__shfl_sync",
                 [&](int lane) { return (lane & ~(width - 1)) + (src_lane & (width - 1)); });
}

template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = kWarpSize) {
  check_width(width, "__shfl_up_sync");
  return shuffle(mask, v, "__shfl_up_sync", [&](int lane) {
    const int in_segment = lane & (width - 1);
    return in_segment >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : -1;
  });
}

template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = kWarpSize) {
  check_width(width, "__shfl_down_sync");
  return shuffle(mask, v, "__shfl_down_sync", [&](int lane) {
    const int in_segment = lane & (width - 1);
    return in_segment + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : -1;
  });
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = kWarpSize) {
  check_width(width, "__shfl_xor_sync");
  return shuffle(mask, v, "__shfl_xor_sync", [&](int lane) {
    const int source = lane ^ lane_mask;
    // A source beyond the caller's segment: the caller keeps its own value.
    return (source & ~(width - 1)) == (lane & ~(width - 1)) ? source : -1;
  });
}

// Atomics: read-modify-write on plain memory, returning the old value.
template <typename T>
T atomic_add_integer(T* address, T v) {
  return __atomic_fetch_add(address, v, __ATOMIC_SEQ_CST);
}
template <typename T>
T atomic_add_floating(T* address, T v) {
  T old;
  __atomic_load(address, &old, __ATOMIC_SEQ_CST);
  T desired = old + v;
  while (!__atomic_compare_exchange(address, &old, &desired, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
    desired = old + v;  // `old` now holds the value another thread stored
  }
  return old;
}
inline int atomicAdd(int* a, int v) { return atomic_add_integer(a, v); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return atomic_add_integer(a, v); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return atomic_add_integer(a, v);
}
inline float atomicAdd(float* a, float v) { return atomic_add_floating(a, v); }
inline double atomicAdd(double* a, double v) { return atomic_add_floating(a, v); }

// Correctly rounded arithmetic that nvcc never contracts into an FMA: the plain IEEE operations on
// the host, whose x86-64 build has no FMA instructions to contract into.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }

// The static shared memory of a kernel: the total size of its function-local statics (which
// __shared__ arrays are here), from the symbol table of the binary that holds it. The statics of a
// function whose mangled name is _Z<encoding> are named _ZZ<encoding>E<name>, so they are found by
// prefix. Read once per binary; the answer for each kernel is cached.
class StaticSharedMemory {
 public:
  static std::size_t of(const void* kernel) {
    static StaticSharedMemory table;
    const std::lock_guard<std::mutex> lock(table.mutex_);
    const auto known = table.bytes_.find(kernel);
    if (known != table.bytes_.end()) return known->second;
    const std::size_t bytes = table.measure(kernel);
    table.bytes_.emplace(kernel, bytes);
    return bytes;
  }

 private:
  std::size_t measure(const void* kernel) {
    Dl_info info{};
    if (dladdr(kernel, &info) == 0 || info.dli_fname == nullptr)
      throw LaunchError("CUDA emulation: cannot tell which binary holds the kernel");
    // The main program's name is argv[0], which may be relative to a directory since left: read
    // it through /proc instead.
    const bool main_program =
        info.dli_fname[0] == '\0' || std::strcmp(info.dli_fname, program_invocation_name) == 0;
    const std::string file = main_program ? "/proc/self/exe" : info.dli_fname;
    if (file != loaded_) load(file);
    const std::uintptr_t bias =
        type_ == ET_DYN ? reinterpret_cast<std::uintptr_t>(info.dli_fbase) : 0;
    const auto at = reinterpret_cast<std::uintptr_t>(kernel) - bias;
    const char* name = nullptr;
    for (const Elf64_Sym& s : symbols_) {
      if (ELF64_ST_TYPE(s.st_info) == STT_FUNC && s.st_value == at && s.st_name != 0) {
        name = strings_.data() + s.st_name;
        if (std::strncmp(name, "_Z", 2) == 0) break;
      }
    }
    if (name == nullptr || std::strncmp(name, "_Z", 2) != 0) {
      throw LaunchError("CUDA emulation: the kernel has no C++ symbol in " + file +
                        "'s symbol table (a stripped binary?), so its shared memory is unknown");
    }
    const std::string prefix = std::string("_ZZ") + (name + 2) + "E";
    std::size_t bytes = 0;
    for (const Elf64_Sym& s : symbols_) {
      if (ELF64_ST_TYPE(s.st_info) == STT_OBJECT && s.st_name != 0 &&
          std::strncmp(strings_.data() + s.st_name, prefix.c_str(), prefix.size()) == 0)
        bytes += s.st_size;
    }
    return bytes;
  }

  // Reads the section headers, then only the symbol table and its strings (not the whole binary:
  // a sanitizer build with debug information is tens of MB).
  void load(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    const auto read = [&](std::uint64_t offset, void* to, std::size_t bytes) {
      in.seekg(static_cast<std::streamoff>(offset));
      in.read(static_cast<char*>(to), static_cast<std::streamsize>(bytes));
      if (!in) throw LaunchError("CUDA emulation: cannot read the symbol table of " + file);
    };
    Elf64_Ehdr header;
    read(0, &header, sizeof header);
    std::vector<Elf64_Shdr> sections(header.e_shnum);
    for (unsigned i = 0; i < header.e_shnum; ++i)
      read(header.e_shoff + std::uint64_t{i} * header.e_shentsize, &sections[i],
           sizeof(Elf64_Shdr));
    symbols_.clear();
    strings_.clear();
    type_ = header.e_type;
    for (const Elf64_Shdr& section : sections) {
      if (section.sh_type != SHT_SYMTAB || section.sh_link >= sections.size()) continue;
      const Elf64_Shdr& names = sections[section.sh_link];
      symbols_.resize(section.sh_size / sizeof(Elf64_Sym));
      read(section.sh_offset, symbols_.data(), symbols_.size() * sizeof(Elf64_Sym));
      strings_.resize(names.sh_size + 1, '\0');
      read(names.sh_offset, strings_.data(), names.sh_size);
    }
    loaded_ = file;
  }

  std::mutex mutex_;
  std::map<const void*, std::size_t> bytes_;
  std::string loaded_;
  unsigned type_ = 0;
  std::vector<Elf64_Sym> symbols_;
  std::vector<char> strings_;
};

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

inline std::string describe(dim3 d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}

// The checks the driver makes before a kernel runs. Throws LaunchError naming the broken limit.
inline void check_launch(const LaunchConfig& c, std::size_t static_shared_bytes) {
  const std::string shape = "grid " + describe(c.grid) + ", block " + describe(c.block);
  const auto refuse = [&](const std::string& why) {
    throw LaunchError("CUDA emulation: invalid launch (" + shape + "): " + why);
  };
  const std::uint64_t threads = std::uint64_t{c.block.x} * c.block.y * c.block.z;
  if (threads == 0 || c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0) refuse("an empty dimension");
  if (c.block.x > kMaxBlockDimXY || c.block.y > kMaxBlockDimXY || c.block.z > kMaxBlockDimZ)
    refuse("a block is at most 1024 x 1024 x 64");
  if (threads > kMaxThreadsPerBlock)
    refuse(std::to_string(threads) + " threads a block, more than the limit of 1024");
  if (c.max_threads != 0 && threads > c.max_threads) {
    refuse(std::to_string(threads) + " threads a block, more than the kernel's __launch_bounds__(" +
           std::to_string(c.max_threads) + ")");
  }
  if (c.grid.x > kMaxGridDimX) refuse("grid x is at most 2^31 - 1");
  if (c.grid.y > kMaxGridDimYZ || c.grid.z > kMaxGridDimYZ)
    refuse("grid y and z are at most 65535");
  if (static_shared_bytes + c.dynamic_shared_bytes > kMaxSharedBytesPerBlock) {
    refuse(std::to_string(static_shared_bytes) + " bytes of static and " +
           std::to_string(c.dynamic_shared_bytes) +
           " of dynamic shared memory, more than the 48 KiB a block gets without an opt-in");
  }
  // `extern __shared__` would read `extern static` here, which no compiler takes.
  if (c.dynamic_shared_bytes != 0) refuse("dynamic shared memory is not emulated");
}

// kernel<<<config.grid, config.block, config.dynamic_shared_bytes>>>(args...), synchronously.
template <class... Params, class... Args>
void emulate_launch(const LaunchConfig& config, void (*kernel)(Params...), const Args&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "emulate_launch: wrong number of arguments");
  check_launch(config, StaticSharedMemory::of(reinterpret_cast<const void*>(kernel)));
  const dim3 grid = config.grid, block = config.block;
  gridDim = grid;
  blockDim = block;
  const unsigned threads = block.x * block.y * block.z;
  const std::uint64_t blocks = std::uint64_t{grid.x} * grid.y * grid.z;
  Block state(threads);  // reset between blocks by the last thread to finish one
  Barrier block_done(static_cast<int>(threads));
  const std::function<void()> next_block = [&] { state.reset(); };
  ThreadPool::instance().run(threads, [&](unsigned t) {
    linear_thread = t;
    threadIdx = uint3{t % block.x, t / block.x % block.y, t / (block.x * block.y)};
    current_block = &state;
    for (std::uint64_t b = 0; b < blocks; ++b) {
      blockIdx =
          uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                static_cast<unsigned>(b / grid.x / grid.y)};
      kernel(args...);  // each thread converts the arguments to its own parameters
      state.warp(t).barrier.leave();
      state.block().leave();
      block_done.arrive_and_wait("the end of a block", &next_block);
    }
    current_block = nullptr;
  });
}

}  // namespace kiln::cuda_emulation

using kiln::cuda_emulation::__dadd_rn;
using kiln::cuda_emulation::__ddiv_rn;
using kiln::cuda_emulation::__dmul_rn;
using kiln::cuda_emulation::__dsqrt_rn;
using kiln::cuda_emulation::__dsub_rn;
using kiln::cuda_emulation::__fadd_rn;
using kiln::cuda_emulation::__fdiv_rn;
using kiln::cuda_emulation::__fmul_rn;
using kiln::cuda_emulation::__fsqrt_rn;
using kiln::cuda_emulation::__fsub_rn;
using kiln::cuda_emulation::__shfl_down_sync;
using kiln::cuda_emulation::__shfl_sync;
using kiln::cuda_emulation::__shfl_up_sync;
using kiln::cuda_emulation::__shfl_xor_sync;
using kiln::cuda_emulation::__syncthreads;
using kiln::cuda_emulation::__syncwarp;
using kiln::cuda_emulation::atomicAdd;
using kiln::cuda_emulation::blockDim;
using kiln::cuda_emulation::blockIdx;
using kiln::cuda_emulation::dim3;
using kiln::cuda_emulation::float4;
using kiln::cuda_emulation::gridDim;
using kiln::cuda_emulation::max;
using kiln::cuda_emulation::min;
using kiln::cuda_emulation::threadIdx;
using kiln::cuda_emulation::uint3;
// Device code calls these unqualified, as nvcc's global overloads.
using std::isfinite;
using std::isinf;
using std::isnan;

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
  if (kiln::cuda_emulation::linear_thread % kiln::cuda_emulation::kWarpSize != 0) return;
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}

}  // namespace nvcuda::wmma
