// Kiln's tiled GEMM kernels, templated on an implicit-GEMM problem (kernels/implicit_gemm.h):
// every convolution direction and the plain matrix product run on the same two kernels.
//   - gemm_fp32_kernel: exact FP32 FMAs on CUDA cores, the classic register-blocked SGEMM.
//   - gemm_tf32_kernel: TF32 tensor cores through nvcuda::wmma (m16n16k8), FP32 accumulation.
// Both: 256 threads, a square block tile of TILE x TILE outputs (128 or 64, see plan_gemm_tiling),
// shared-memory tiles double-buffered, and optional split-K (blockIdx.z is the depth slice; each
// slice writes its partial tile to a workspace layer, and splitk_reduce_kernel sums the layers in
// fixed order: deterministic, no atomics).
//
// Device code (device_code.h), written against nothing but CUDA's built-ins, nvcuda::wmma and
// launch.h, so that the host emulation tests/support/cuda_emulation.h can compile this same
// source for the CPU: tests/kernels/implicit_gemm_emulated_test.cpp runs the kernels in every CI
// build, GPU or not, launched by queue_implicit_gemm below as kernels/cuda/implicit_gemm.cuh's
// run_implicit_gemm launches them. Keep it that way: anything else a kernel needs must exist in
// the emulation too.
#pragma once

#include <cstddef>
#include <cstdint>

// Device code (device_code.h): nvcc compiles it into kiln::kernels::cuda::detail, the emulated
// test into kiln::kernels::cuda::emulated, where tests/support/cuda_emulation.h, included first,
// supplies the built-ins and nvcuda::wmma.
#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"
#include "kernels/implicit_gemm.h"
#if !defined(KILN_CUDA_EMULATION)
#include <mma.h>
#endif

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

constexpr int kGemmThreads = 256;

// A result goes through the problem's scatter store, or, under split-K, into this slice's layer of
// the workspace (partial: splits x rows x cols) for the reduction to store later.
template <class Problem>
__device__ inline void emit(const Problem& p, float* partial, int m, int n, float v) {
  if (partial == nullptr) {
    p.store(m, n, v);
  } else {
    const std::int64_t layer = static_cast<std::int64_t>(p.rows) * p.cols;
    partial[blockIdx.z * layer + static_cast<std::int64_t>(m) * p.cols + n] = v;
  }
}

// Moves one BK-deep slab of A (TILE x BK) and B (BK x TILE) from global memory (gathered, zero
// outside the problem or this slice) through registers into shared memory. Loading into registers
// first is what lets the next slab's global loads fly while the current slab is being multiplied.
//   A: thread-consecutive elements run along kk, which is contiguous in memory for the forward
//      weights, gy in backward-weight and a non-transposed matrix; stored TRANSPOSED as As[kk][m]
//      so the math reads a row of m values as float4 (FP32) or a col-major wmma tile (TF32). The
//      row padding (+4 floats) puts the 8 kk rows of one warp's store in different banks.
//   B: thread-consecutive elements run along n (output pixels: contiguous along q or w), stored
//      as Bs[kk][n].
template <int TILE, int BK, int LDA, int LDB>
struct SlabLoader {
  static constexpr int kA = TILE * BK / kGemmThreads, kB = TILE * BK / kGemmThreads;
  float a[kA], b[kB];

  template <class Problem>
  __device__ void load(const Problem& p, int m0, int n0, int k0, int k_end) {
    KILN_UNROLL
    for (int i = 0; i < kA; ++i) {
      const int e = threadIdx.x + i * kGemmThreads, m = m0 + e / BK, kk = k0 + e % BK;
      a[i] = m < p.rows && kk < k_end ? p.load_a(m, kk) : 0.f;
    }
    KILN_UNROLL
    for (int i = 0; i < kB; ++i) {
      const int e = threadIdx.x + i * kGemmThreads, n = n0 + e % TILE, kk = k0 + e / TILE;
      b[i] = n < p.cols && kk < k_end ? p.load_b(kk, n) : 0.f;
    }
  }

  // `convert` rounds to TF32 once here rather than on every fragment load (an A value is reused
  // by every fragment column of its warp).
  template <class Convert>
  __device__ void stash(float (*as)[LDA], float (*bs)[LDB], Convert convert) const {
    KILN_UNROLL
    for (int i = 0; i < kA; ++i) {
      const int e = threadIdx.x + i * kGemmThreads;
      as[e % BK][e / BK] = convert(a[i]);
    }
    KILN_UNROLL
    for (int i = 0; i < kB; ++i) {
      const int e = threadIdx.x + i * kGemmThreads;
      bs[e / TILE][e % TILE] = convert(b[i]);
    }
  }
};

struct KeepFloat {
  __device__ float operator()(float v) const { return v; }
};

// FP32. The 256 threads form a 16 x 16 grid; each computes a TM x TN = (TILE/16)^2 register
// micro-tile (8x8 for 128, 4x4 for 64): per depth step it reads TM + TN values from shared memory
// for TM * TN FMAs, which is what keeps the FMA units, not shared memory, the bottleneck. A
// thread's rows are ty*4..ty*4+3 plus the same 64 further on (likewise columns), so a warp's float4
// reads of one row are 16 consecutive float4s (the fewest wavefronts possible) or a broadcast. BK =
// 8 keeps the double-buffered tiles at 16.5 KB for TILE = 128, leaving room for 2 blocks/SM.
template <class Problem, int TILE>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_fp32_kernel(Problem p, int k_per_split, float* partial) {
  constexpr int BK = 8, TM = TILE / 16, LDA = TILE + 4, LDB = TILE;
  __shared__ __align__(16) float as[2][BK][LDA];
  __shared__ __align__(16) float bs[2][BK][LDB];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(p.depth, k_begin + k_per_split);
  const int steps = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;

  SlabLoader<TILE, BK, LDA, LDB> slab;
  slab.load(p, m0, n0, k_begin, k_end);
  slab.stash(as[0], bs[0], KeepFloat{});
  __syncthreads();

  float acc[TM][TM] = {};
  for (int t = 0; t < steps; ++t) {
    const int cur = t & 1;
    if (t + 1 < steps) slab.load(p, m0, n0, k_begin + (t + 1) * BK, k_end);
    KILN_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TM];
      KILN_UNROLL
      for (int c = 0; c < TM / 4; ++c) {
        const float4 va = *reinterpret_cast<const float4*>(&as[cur][kk][c * 64 + ty * 4]);
        const float4 vb = *reinterpret_cast<const float4*>(&bs[cur][kk][c * 64 + tx * 4]);
        a[c * 4] = va.x, a[c * 4 + 1] = va.y, a[c * 4 + 2] = va.z, a[c * 4 + 3] = va.w;
        b[c * 4] = vb.x, b[c * 4 + 1] = vb.y, b[c * 4 + 2] = vb.z, b[c * 4 + 3] = vb.w;
      }
      KILN_UNROLL
      for (int i = 0; i < TM; ++i) {
        KILN_UNROLL
        for (int j = 0; j < TM; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    // The other buffer was last read in step t-1, which every thread finished before the
    // __syncthreads that closed it; one barrier per step is enough.
    if (t + 1 < steps) slab.stash(as[cur ^ 1], bs[cur ^ 1], KeepFloat{});
    __syncthreads();
  }

  KILN_UNROLL
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + (i / 4) * 64 + ty * 4 + i % 4;
    if (m >= p.rows) continue;
    KILN_UNROLL
    for (int j = 0; j < TM; ++j) {
      const int n = n0 + (j / 4) * 64 + tx * 4 + j % 4;
      if (n < p.cols) emit(p, partial, m, n, acc[i][j]);
    }
  }
}

// TF32 (compiled for sm_80 and newer only). The 8 warps form a 2 x 4 grid, each owning a
// (TILE/2) x (TILE/4) region of 16 x 16 accumulator fragments (4 x 2 of them for TILE = 128):
// every A fragment it loads is reused across its fragment columns and every B fragment across its
// rows. BK = 16 is two m16n16k8 steps per barrier. A sits in shared memory as As[kk][m], which is
// exactly a col_major A tile with ldm = LDA; B as Bs[kk][n] is a row_major B tile with ldm = LDB.
// Both ldms are multiples of 4 floats (wmma's rule for 32-bit types) and every fragment pointer
// is 32-byte aligned (kk in steps of 8 rows, m and n in steps of 16). The epilogue stages one
// fragment at a time through a per-warp 16 x 16 buffer, because the fragment's element-to-thread
// map is unspecified and the problem's scatter store needs (m, n) for each value.
template <class Problem, int TILE>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_tf32_kernel(Problem p, int k_per_split, float* partial) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  constexpr int BK = 16, LDA = TILE + 4, LDB = TILE + 4;
  constexpr int WM = TILE / 2, WN = TILE / 4, FM = WM / 16, FN = WN / 16;
  __shared__ __align__(32) float as[2][BK][LDA];
  __shared__ __align__(32) float bs[2][BK][LDB];
  __shared__ __align__(32) float stage[kGemmThreads / 32][16 * 16];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = (warp / 4) * WM, wn = (warp % 4) * WN;
  const int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(p.depth, k_begin + k_per_split);
  const int steps = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
  const auto to_tf32 = [](float v) { return wmma::__float_to_tf32(v); };

  SlabLoader<TILE, BK, LDA, LDB> slab;
  slab.load(p, m0, n0, k_begin, k_end);
  slab.stash(as[0], bs[0], to_tf32);
  __syncthreads();

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
  KILN_UNROLL
  for (int i = 0; i < FM; ++i) {
    KILN_UNROLL
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);
  }

  for (int t = 0; t < steps; ++t) {
    const int cur = t & 1;
    if (t + 1 < steps) slab.load(p, m0, n0, k_begin + (t + 1) * BK, k_end);
    KILN_UNROLL
    for (int kk = 0; kk < BK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> a[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[FN];
      KILN_UNROLL
      for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(a[i], &as[cur][kk][wm + i * 16], LDA);
      KILN_UNROLL
      for (int j = 0; j < FN; ++j) wmma::load_matrix_sync(b[j], &bs[cur][kk][wn + j * 16], LDB);
      KILN_UNROLL
      for (int i = 0; i < FM; ++i) {
        KILN_UNROLL
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
      }
    }
    if (t + 1 < steps) slab.stash(as[cur ^ 1], bs[cur ^ 1], to_tf32);  // see the FP32 kernel
    __syncthreads();
  }

  float* mine = stage[warp];
  KILN_UNROLL
  for (int i = 0; i < FM; ++i) {
    KILN_UNROLL
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(mine, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      KILN_UNROLL
      for (int step = 0; step < 16 * 16 / 32; ++step) {  // lanes run along n: coalesced along q, w
        const int e = step * 32 + lane;
        const int m = m0 + wm + i * 16 + e / 16, n = n0 + wn + j * 16 + e % 16;
        if (m < p.rows && n < p.cols) emit(p, partial, m, n, mine[e]);
      }
      __syncwarp();  // all lanes have read `mine` before the next fragment overwrites it
    }
  }
#endif
}

// Sums the split-K layers in order 0, 1, ... (the same order every run) and stores through the
// problem, which adds the bias, if any, once.
template <class Problem>
__global__ void splitk_reduce_kernel(Problem p, int splits, const float* partial) {
  const std::int64_t layer = static_cast<std::int64_t>(p.rows) * p.cols;
  for (std::int64_t i = grid_start(); i < layer; i += grid_stride()) {
    float sum = 0.f;
    for (int z = 0; z < splits; ++z) sum += partial[z * layer + i];
    p.store(static_cast<int>(i / p.cols), static_cast<int>(i % p.cols), sum);
  }
}

// The split-K workspace queue_implicit_gemm needs under `tiling`: one rows x cols layer of floats
// per depth slice, or nothing when depth is not split.
template <class Problem>
std::int64_t gemm_workspace_floats(const Problem& p, const GemmTiling& tiling) {
  return tiling.splits > 1 ? static_cast<std::int64_t>(tiling.splits) * p.rows * p.cols : 0;
}

// Queues C = A @ B of problem `p` (rows, cols > 0; rows / tile <= 65535, checked by the caller)
// under `tiling` (plan_gemm_tiling's; tests also force the other tile and finer slices): the tile
// kernel over TILE x TILE tiles, columns (output pixels, the largest side) on grid x, whose limit
// is 2^31 - 1, rows on y, depth slices on z; then, when depth is split, the reduction over
// `partial` (gemm_workspace_floats of them; nullptr when not split).
template <class Launch, class Problem>
void queue_implicit_gemm(const Launch& launch, const Problem& p, bool tf32,
                         const GemmTiling& tiling, float* partial) {
  const int tile = tiling.tile;
  const dim3 grid(static_cast<unsigned>((p.cols + tile - 1) / tile),
                  static_cast<unsigned>((p.rows + tile - 1) / tile),
                  static_cast<unsigned>(tiling.splits));
  const LaunchShape tiles{grid, dim3(kGemmThreads), 0, kGemmThreads};
  float* const slices = tiling.splits > 1 ? partial : nullptr;
  if (tile == 128) {
    launch(tiles, tf32 ? gemm_tf32_kernel<Problem, 128> : gemm_fp32_kernel<Problem, 128>, p,
           tiling.k_per_split, slices);
  } else {
    launch(tiles, tf32 ? gemm_tf32_kernel<Problem, 64> : gemm_fp32_kernel<Problem, 64>, p,
           tiling.k_per_split, slices);
  }
  if (slices != nullptr) {
    launch(grid_stride_shape(launch, static_cast<std::int64_t>(p.rows) * p.cols),
           splitk_reduce_kernel<Problem>, p, tiling.splits, static_cast<const float*>(slices));
  }
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
