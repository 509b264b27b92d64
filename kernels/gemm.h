// Kiln's hand-written GEMM on CUDA: the same shared-memory tiled kernels that run Kiln's
// implicit-GEMM convolutions (kernels/cuda/implicit_gemm.cuh), applied to plain row-major matrices.
// It exists to be raced against cuBLAS (bench/gemm_bench.cpp) and tested against the CPU; Dense
// layers use cuBLAS (kernels/linear.h).
#pragma once

#include <cstdint>

namespace kiln::kernels::cuda {

// Which tiled kernel runs: FP32 FMA on CUDA cores, or TF32 tensor cores (wmma m16n16k8).
enum class GemmPrecision { FP32, TF32 };

// C (M,N) = A (M,K) @ B (K,N), all row-major, device pointers, C overwritten. With trans_a, A is
// stored (K,M); with trans_b, B is stored (N,K) — the three shapes a Dense layer's forward and
// backward passes need. Queued on Kiln's stream.
void gemm_kiln(GemmPrecision precision, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
               std::int64_t k, const float* a, const float* b, float* c);

}  // namespace kiln::kernels::cuda
