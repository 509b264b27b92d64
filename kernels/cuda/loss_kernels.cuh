// Softmax cross-entropy and count_correct (device code, device_code.h): the twins of
// kernels/cpu/loss.cpp, with the same numerics (shift by the row max, sums and losses in double,
// loss = log-sum-exp minus the target logit), and the queue_* functions that launch them
// (launch.h), used by kernels/cuda/loss.cu and tests/kernels/loss_optim_emulated_test.cpp.
//
// Forward: ONE BLOCK PER ROW (grid-stride over rows), blockDim = K rounded up to a warp, at most
// 512. The block finds the row max, writes exp(l - max) to probs and sums it in double, scales
// probs by 1 / sum, and writes the row's loss (double) to a scratch array. A second single-block
// kernel sums the row losses in a fixed tree order, so the mean is the same bits on every run
// (no atomics). It differs from the CPU's sequential sum only in double rounding.
// Backward: elementwise over N*K (a block per row would leave most of a block idle for K = 10);
// one subtraction and one multiply per element, exactly the CPU's, so the bits match.
// count_correct: a block per row finds the first maximum; one integer atomicAdd per block, which
// is exact and order-independent.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

__global__ void softmax_cross_entropy_forward_kernel(std::int64_t n, std::int64_t k,
                                                     const float* logits,
                                                     const std::int32_t* labels,
                                                     const float* target_probs, float* probs,
                                                     double* row_loss) {
  __shared__ float scratch_f[32];
  __shared__ double scratch_d[32];
  for (std::int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const float* l = logits + row * k;  // (K)
    float* pr = probs + row * k;        // (K)
    float max_logit = -INFINITY;
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x) max_logit = fmaxf(max_logit, l[j]);
    max_logit = block_reduce(max_logit, Max{}, -INFINITY, scratch_f);
    // Each thread rescales only the entries it wrote itself, so no barrier is needed between.
    double sum = 0.0;
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x) {
      const float e = expf(l[j] - max_logit);
      pr[j] = e;
      sum += static_cast<double>(e);
    }
    sum = block_reduce(sum, Sum{}, 0.0, scratch_d);
    const double inv_sum = 1.0 / sum;
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x)
      pr[j] = static_cast<float>(static_cast<double>(pr[j]) * inv_sum);
    const double log_sum_exp = static_cast<double>(max_logit) + log(sum);
    if (labels) {
      if (threadIdx.x == 0) row_loss[row] = log_sum_exp - static_cast<double>(l[labels[row]]);
    } else {
      // Term by term, t_j * (lse - l_j), as the CPU sums it (see kernels/cpu/loss.cpp).
      const float* t = target_probs + row * k;
      double loss = 0.0;
      for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x)
        loss += static_cast<double>(t[j]) * (log_sum_exp - static_cast<double>(l[j]));
      loss = block_reduce(loss, Sum{}, 0.0, scratch_d);
      if (threadIdx.x == 0) row_loss[row] = loss;
    }
  }
}

// One block: result[0] = sum of the n row losses, in a fixed order.
__global__ void sum_row_losses_kernel(std::int64_t n, const double* row_loss, double* result) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += row_loss[i];
  acc = block_reduce(acc, Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) result[0] = acc;
}

__global__ void softmax_cross_entropy_backward_kernel(std::int64_t n, std::int64_t k,
                                                      const float* probs,
                                                      const std::int32_t* labels,
                                                      const float* target_probs, float scale,
                                                      float* glogits) {
  const std::int64_t total = n * k;
  for (std::int64_t idx = grid_start(); idx < total; idx += grid_stride()) {
    if (labels) {
      const std::int64_t row = idx / k, j = idx % k;
      glogits[idx] = j == labels[row] ? scale * (probs[idx] - 1.f) : scale * probs[idx];
    } else {
      glogits[idx] = scale * (probs[idx] - target_probs[idx]);
    }
  }
}

// The first maximum of a row, as a sequential scan with `>` (or std::max_element) finds it:
// NaNs never win, except that a NaN in column 0 is never beaten. `at` < 0 means none seen yet.
struct ArgMax {
  float value;
  int at;
};

__device__ inline ArgMax first_maximum(ArgMax a, ArgMax b) {
  if (b.at < 0) return a;
  if (a.at < 0) return b;
  if (b.value > a.value || (b.value == a.value && b.at < a.at)) return b;
  return a;
}

__device__ inline ArgMax warp_argmax(ArgMax v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    ArgMax other;
    other.value = __shfl_down_sync(kFullMask, v.value, offset);
    other.at = __shfl_down_sync(kFullMask, v.at, offset);
    v = first_maximum(v, other);
  }
  return v;
}

__global__ void count_correct_kernel(std::int64_t n, std::int64_t k, const float* logits,
                                     const std::int32_t* labels, std::int64_t* correct) {
  __shared__ ArgMax scratch[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = static_cast<int>(blockDim.x >> 5);
  unsigned long long hits = 0;  // meaningful in thread 0
  for (std::int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const float* l = logits + row * k;  // (K)
    ArgMax best{0.f, -1};
    // Ascending j with a strict `>`: each thread keeps its first maximum.
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x)
      if (!isnan(l[j]) && (best.at < 0 || l[j] > best.value))
        best = ArgMax{l[j], static_cast<int>(j)};
    best = warp_argmax(best);
    __syncthreads();  // the previous row's readers of scratch are done
    if (lane == 0) scratch[warp] = best;
    __syncthreads();
    if (warp == 0) {
      best = lane < warps ? scratch[lane] : ArgMax{0.f, -1};
      best = warp_argmax(best);
      if (lane == 0) {
        const int predicted = (isnan(l[0]) || best.at < 0) ? 0 : best.at;
        hits += predicted == labels[row] ? 1 : 0;
      }
    }
  }
  if (threadIdx.x == 0 && hits > 0) atomicAdd(reinterpret_cast<unsigned long long*>(correct), hits);
}

// Row blocks: one per row, at most kMaxRowBlocks (rows beyond loop, grid-stride over rows), each
// of K rounded up to whole warps, between one warp and 512 threads.
constexpr std::int64_t kMaxRowBlocks = 1 << 16;
constexpr int kMaxRowThreads = 512;

template <class Launch>
LaunchShape row_blocks_shape(const Launch& launch, std::int64_t n, std::int64_t k) {
  const std::int64_t cap = launch.grid_cap(kMaxRowBlocks);
  const std::int64_t warps = (k + 31) / 32;
  const std::int64_t threads = 32 * std::clamp<std::int64_t>(warps, 1, kMaxRowThreads / 32);
  return LaunchShape{dim3(static_cast<unsigned>(n < cap ? n : cap)),
                     dim3(static_cast<unsigned>(threads))};
}

constexpr int kSumRowLossesThreads = 1024;

// The doubles of device workspace queue_softmax_cross_entropy_forward needs: the row losses, then
// their sum.
inline std::int64_t loss_workspace_doubles(std::int64_t n) { return n + 1; }

// For n > 0 and K > 0, exactly one of labels and target_probs given: probs (N, K) and the row
// losses, then their sum, into `workspace` (loss_workspace_doubles). Returns where the sum (not
// yet the mean) will be.
template <class Launch>
double* queue_softmax_cross_entropy_forward(const Launch& launch, std::int64_t n, std::int64_t k,
                                            const float* logits, const std::int32_t* labels,
                                            const float* target_probs, float* probs,
                                            double* workspace) {
  double* total = workspace + n;
  launch(row_blocks_shape(launch, n, k), softmax_cross_entropy_forward_kernel, n, k, logits, labels,
         target_probs, probs, workspace);
  launch(LaunchShape{dim3(1), dim3(kSumRowLossesThreads)}, sum_row_losses_kernel, n,
         static_cast<const double*>(workspace), total);
  return total;
}

// glogits (N, K) = scale * (probs - target), for n > 0.
template <class Launch>
void queue_softmax_cross_entropy_backward(const Launch& launch, std::int64_t n, std::int64_t k,
                                          const float* probs, const std::int32_t* labels,
                                          const float* target_probs, float scale, float* glogits) {
  launch(grid_stride_shape(launch, n * k), softmax_cross_entropy_backward_kernel, n, k, probs,
         labels, target_probs, scale, glogits);
}

// *correct += the rows whose first maximum is the label, for n > 0.
template <class Launch>
void queue_count_correct(const Launch& launch, std::int64_t n, std::int64_t k, const float* logits,
                         const std::int32_t* labels, std::int64_t* correct) {
  launch(row_blocks_shape(launch, n, k), count_correct_kernel, n, k, logits, labels, correct);
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
