// The CUDA emulation itself (tests/support/cuda_emulation.h), on small kernels of its own: thread
// and block numbering in 3-D, warps as 32 consecutive threads, every shuffle for float, double and
// int (segments included), atomics, barriers with threads that return early, the measured static
// shared memory, and the launch limits, which must refuse what the hardware refuses. A broken rule
// inside a kernel (a partial mask, a shuffle with lanes missing) aborts, so those are death tests.

// clang-format off
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

namespace kiln {
namespace {

using cuda_emulation::emulate_launch;
using cuda_emulation::LaunchConfig;
using cuda_emulation::LaunchError;

// ---------------------------------------------------------------------------------------------
// Test kernels.

struct Indices {
  unsigned thread[3], block[3], block_dim[3], grid_dim[3];
};

__global__ void record_indices(Indices* out) {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * threads + thread] = Indices{{threadIdx.x, threadIdx.y, threadIdx.z},
                                          {blockIdx.x, blockIdx.y, blockIdx.z},
                                          {blockDim.x, blockDim.y, blockDim.z},
                                          {gridDim.x, gridDim.y, gridDim.z}};
}

// out[t] = the sum of the linear thread numbers of t's warp, by an xor butterfly.
__global__ void warp_sum_of_linear_ids(int* out) {
  const int t =
      static_cast<int>(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  int v = t;
  for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  out[t] = v;
}

// Every shuffle of value(lane) = lane * 3 + 0.5 (or as int), written per lane: down by 5, up by 3,
// xor 6, from lane 7, and the same within 8-lane segments.
template <typename T>
__global__ void shuffles(T* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const T v = static_cast<T>(lane * 3) + static_cast<T>(std::is_integral_v<T> ? 0 : 0.5);
  T* o = out + threadIdx.x * 8;
  o[0] = __shfl_down_sync(0xffffffffu, v, 5);
  o[1] = __shfl_up_sync(0xffffffffu, v, 3);
  o[2] = __shfl_xor_sync(0xffffffffu, v, 6);
  o[3] = __shfl_sync(0xffffffffu, v, 7);
  o[4] = __shfl_down_sync(0xffffffffu, v, 5, 8);
  o[5] = __shfl_up_sync(0xffffffffu, v, 3, 8);
  o[6] = __shfl_xor_sync(0xffffffffu, v, 6, 8);
  o[7] = __shfl_sync(0xffffffffu, v, 7, 8);
}

__global__ void count_with_atomics(unsigned long long* u, int* i, float* f, double* d) {
  atomicAdd(u, 1ull);
  atomicAdd(i, 2);
  atomicAdd(f, 0.5f);
  atomicAdd(d, 0.25);
}

// Threads past `live` return before the barriers; the others sum through shared memory.
__global__ void sum_with_early_returns(int live, int* out) {
  __shared__ int values[256];
  if (static_cast<int>(threadIdx.x) >= live) return;
  values[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncthreads();
  if (threadIdx.x == 0) {
    int total = 0;
    for (int t = 0; t < live; ++t) total += values[t];
    out[blockIdx.x] = total;
  }
  __syncthreads();
}

__global__ void uses_shared_bytes(float* out) {
  __shared__ float a[1000];
  __shared__ double b[12];
  a[threadIdx.x] = 1.f;
  if (threadIdx.x < 12) b[threadIdx.x] = 2.0;
  __syncthreads();
  out[threadIdx.x] = a[(threadIdx.x + 1) % 32] + static_cast<float>(b[0]);
}

__global__ void uses_48_kib(float* out) {
  __shared__ float a[12 * 1024];
  a[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = a[(threadIdx.x + 1) % 32];
}

__global__ void uses_48_kib_and_4_bytes(float* out) {
  __shared__ float a[12 * 1024 + 1];
  a[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = a[(threadIdx.x + 1) % 32];
}

__global__ void nothing() {}

__global__ void shuffle_once(float* out) {
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.f, 1);
}

__global__ void shuffle_with_partial_mask(float* out) {
  out[threadIdx.x] = __shfl_down_sync(0x0000ffffu, 1.f, 1);
}

__global__ void shuffle_after_lane_returns(float* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}

__global__ void syncwarp_in_partial_warp() { __syncwarp(); }

// ---------------------------------------------------------------------------------------------

TEST(CudaEmulation, ThreadAndBlockIndicesIn3d) {
  const dim3 grid(2, 3, 2), block(8, 4, 2);
  const unsigned threads = 64, blocks = 12;
  std::vector<Indices> got(threads * blocks, Indices{});
  emulate_launch(LaunchConfig{grid, block}, record_indices, got.data());
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < threads; ++t) {
      const Indices& r = got[b * threads + t];
      SCOPED_TRACE(::testing::Message() << "block " << b << " thread " << t);
      EXPECT_EQ(r.thread[0], t % 8);
      EXPECT_EQ(r.thread[1], t / 8 % 4);
      EXPECT_EQ(r.thread[2], t / 32);
      EXPECT_EQ(r.block[0], b % 2);
      EXPECT_EQ(r.block[1], b / 2 % 3);
      EXPECT_EQ(r.block[2], b / 6);
      EXPECT_EQ(r.block_dim[0] * r.block_dim[1] * r.block_dim[2], threads);
      EXPECT_EQ(r.grid_dim[0] * 100 + r.grid_dim[1] * 10 + r.grid_dim[2], 232u);
    }
  }
}

// In a (16, 4, 2) block a warp is two rows of x: 32 consecutive linear numbers, as on the GPU.
TEST(CudaEmulation, WarpsAreConsecutiveLinearThreads) {
  std::vector<int> got(128, -1);
  emulate_launch(LaunchConfig{dim3(1), dim3(16, 4, 2)}, warp_sum_of_linear_ids, got.data());
  for (int t = 0; t < 128; ++t) {
    const int first = t / 32 * 32;
    EXPECT_EQ(got[t], 32 * first + 31 * 32 / 2) << "thread " << t;
  }
}

template <typename T>
void check_shuffles() {
  const int threads = 64;  // two warps: lanes restart at 32
  std::vector<T> got(threads * 8, T(-1));
  emulate_launch(LaunchConfig{dim3(1), dim3(threads)}, shuffles<T>, got.data());
  const auto value = [](int lane) {
    return static_cast<T>(lane * 3) + static_cast<T>(std::is_integral_v<T> ? 0 : 0.5);
  };
  for (int t = 0; t < threads; ++t) {
    const int lane = t % 32, segment = lane / 8 * 8, in = lane % 8;
    const T* o = got.data() + t * 8;
    SCOPED_TRACE(::testing::Message() << "thread " << t);
    EXPECT_EQ(o[0], value(lane + 5 < 32 ? lane + 5 : lane));
    EXPECT_EQ(o[1], value(lane >= 3 ? lane - 3 : lane));
    EXPECT_EQ(o[2], value(lane ^ 6));
    EXPECT_EQ(o[3], value(7));
    EXPECT_EQ(o[4], value(in + 5 < 8 ? lane + 5 : lane));
    EXPECT_EQ(o[5], value(in >= 3 ? lane - 3 : lane));
    EXPECT_EQ(o[6], value(segment + (in ^ 6)));
    EXPECT_EQ(o[7], value(segment + 7));
  }
}

TEST(CudaEmulation, ShufflesOfFloatDoubleAndInt) {
  check_shuffles<float>();
  check_shuffles<double>();
  check_shuffles<int>();
}

TEST(CudaEmulation, AtomicsFromEveryThreadOfEveryBlock) {
  unsigned long long u = 7;
  int i = 0;
  float f = 0.f;
  double d = 0.0;
  emulate_launch(LaunchConfig{dim3(3, 2), dim3(64, 2)}, count_with_atomics, &u, &i, &f, &d);
  const int threads = 3 * 2 * 64 * 2;
  EXPECT_EQ(u, 7u + threads);
  EXPECT_EQ(i, 2 * threads);
  EXPECT_EQ(f, 0.5f * threads);  // exact: small multiples of 1/2
  EXPECT_EQ(d, 0.25 * threads);
}

// As on sm_70 and newer: threads that returned no longer hold up __syncthreads.
TEST(CudaEmulation, BarriersGoOnWithoutThreadsThatReturned) {
  std::vector<int> got(3, -1);
  emulate_launch(LaunchConfig{dim3(3), dim3(256)}, sum_with_early_returns, 100, got.data());
  EXPECT_EQ(got, std::vector<int>(3, 99 * 100 / 2));
}

TEST(CudaEmulation, MeasuresStaticSharedMemory) {
  EXPECT_EQ(
      cuda_emulation::StaticSharedMemory::of(reinterpret_cast<const void*>(uses_shared_bytes)),
      1000 * sizeof(float) + 12 * sizeof(double));
  EXPECT_EQ(cuda_emulation::StaticSharedMemory::of(reinterpret_cast<const void*>(nothing)), 0u);
  std::vector<float> out(32);
  emulate_launch(LaunchConfig{dim3(1), dim3(32)}, uses_shared_bytes, out.data());
  EXPECT_EQ(out[0], 3.f);
}

TEST(CudaEmulation, RefusesWhatTheHardwareRefuses) {
  std::vector<float> out(1024);
  const auto launch = [&](dim3 grid, dim3 block, std::size_t dynamic = 0, unsigned bound = 0) {
    emulate_launch(LaunchConfig{grid, block, dynamic, bound}, nothing);
  };
  EXPECT_NO_THROW(launch(dim3(1), dim3(1024)));
  EXPECT_NO_THROW(launch(dim3(1, 65535), dim3(1)));
  EXPECT_THROW(launch(dim3(1), dim3(1025)), LaunchError);
  EXPECT_THROW(launch(dim3(1), dim3(32, 32, 2)), LaunchError);  // 2048 threads
  EXPECT_THROW(launch(dim3(1), dim3(1, 1, 65)), LaunchError);
  EXPECT_THROW(launch(dim3(1), dim3(0)), LaunchError);
  EXPECT_THROW(launch(dim3(0), dim3(32)), LaunchError);
  EXPECT_THROW(launch(dim3(1, 65536), dim3(32)), LaunchError);
  EXPECT_THROW(launch(dim3(1, 1, 65536), dim3(32)), LaunchError);
  EXPECT_THROW(launch(dim3(0x80000000u), dim3(32)), LaunchError);
  EXPECT_NO_THROW(launch(dim3(1), dim3(256), 0, 256));
  EXPECT_THROW(launch(dim3(1), dim3(512), 0, 256), LaunchError);  // __launch_bounds__(256)
  EXPECT_THROW(launch(dim3(1), dim3(32), 16), LaunchError);       // dynamic: not emulated
  EXPECT_NO_THROW(emulate_launch(LaunchConfig{dim3(1), dim3(32)}, uses_48_kib, out.data()));
  try {
    emulate_launch(LaunchConfig{dim3(1), dim3(32)}, uses_48_kib_and_4_bytes, out.data());
    ADD_FAILURE() << "a block with 48 KiB + 4 bytes of shared memory launched";
  } catch (const LaunchError& e) {
    EXPECT_NE(std::string(e.what()).find("49156 bytes of static"), std::string::npos) << e.what();
  }
}

TEST(CudaEmulation, FullWarpShufflesWorkInFullWarpsOnly) {
  std::vector<float> out(64);
  emulate_launch(LaunchConfig{dim3(1), dim3(64)}, shuffle_once, out.data());
  EXPECT_EQ(out, std::vector<float>(64, 1.f));
}

class CudaEmulationDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A block of 48 threads: its second warp has 16 lanes, so a full-mask shuffle there is undefined
// on the GPU (and block_reduce would read garbage): the emulation stops.
TEST_F(CudaEmulationDeathTest, ShuffleInAPartialWarpFails) {
  std::vector<float> out(48);
  EXPECT_DEATH(emulate_launch(LaunchConfig{dim3(1), dim3(48)}, shuffle_once, out.data()),
               "only 16 of the warp's 32 lanes");
}

TEST_F(CudaEmulationDeathTest, ShuffleAfterALaneReturnedFails) {
  std::vector<float> out(32);
  EXPECT_DEATH(
      emulate_launch(LaunchConfig{dim3(1), dim3(32)}, shuffle_after_lane_returns, out.data()),
      "only 31 of the warp's 32 lanes");
}

TEST_F(CudaEmulationDeathTest, PartialMaskFails) {
  std::vector<float> out(32);
  EXPECT_DEATH(
      emulate_launch(LaunchConfig{dim3(1), dim3(32)}, shuffle_with_partial_mask, out.data()),
      "partial mask");
}

TEST_F(CudaEmulationDeathTest, SyncwarpInAPartialWarpFails) {
  EXPECT_DEATH(emulate_launch(LaunchConfig{dim3(1), dim3(40)}, syncwarp_in_partial_warp),
               "only 8 of the warp's 32 lanes");
}

}  // namespace
}  // namespace kiln
