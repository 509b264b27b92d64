// Softmax cross-entropy on the GPU: the twin of kernels/cpu/loss.cpp, with the same numerics
// (shift by the row max, sums and losses in double, loss = log-sum-exp minus the target logit).
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
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/loss.h"

namespace kiln::kernels::cuda {
namespace {

using detail::blocks_for;
using detail::grid_start;
using detail::grid_stride;
using detail::kThreads;

constexpr std::int64_t kMaxRowBlocks = 1 << 16;  // rows beyond this loop (grid-stride over rows)

// Threads per row-block: K rounded up to whole warps, between one warp and 512.
int row_threads(std::int64_t k) {
  const std::int64_t warps = (k + 31) / 32;
  return static_cast<int>(32 * (warps < 1 ? 1 : (warps > 16 ? 16 : warps)));
}

int row_blocks(std::int64_t n) { return static_cast<int>(n < kMaxRowBlocks ? n : kMaxRowBlocks); }

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
    max_logit = detail::block_reduce(max_logit, detail::Max{}, -INFINITY, scratch_f);
    // Each thread rescales only the entries it wrote itself, so no barrier is needed between.
    double sum = 0.0;
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x) {
      const float e = expf(l[j] - max_logit);
      pr[j] = e;
      sum += static_cast<double>(e);
    }
    sum = detail::block_reduce(sum, detail::Sum{}, 0.0, scratch_d);
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
      loss = detail::block_reduce(loss, detail::Sum{}, 0.0, scratch_d);
      if (threadIdx.x == 0) row_loss[row] = loss;
    }
  }
}

// One block: result[0] = sum of the n row losses, in a fixed order.
__global__ void sum_row_losses_kernel(std::int64_t n, const double* row_loss, double* result) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += row_loss[i];
  acc = detail::block_reduce(acc, detail::Sum{}, 0.0, scratch);
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

__device__ inline ArgMax better(ArgMax a, ArgMax b) {
  if (b.at < 0) return a;
  if (a.at < 0) return b;
  if (b.value > a.value || (b.value == a.value && b.at < a.at)) return b;
  return a;
}

__device__ inline ArgMax warp_argmax(ArgMax v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    ArgMax other;
    other.value = __shfl_down_sync(detail::kFullMask, v.value, offset);
    other.at = __shfl_down_sync(detail::kFullMask, v.at, offset);
    v = better(v, other);
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

void check_sizes(const char* op, std::int64_t n, std::int64_t k, const std::int32_t* labels,
                 const float* target_probs) {
  KILN_CHECK(n >= 0 && k > 0, op, ": bad logits shape (", n, ", ", k, ")");
  KILN_CHECK(k <= 0x7fffffff, op, ": ", k, " classes do not fit int32 labels");
  KILN_CHECK((labels == nullptr) != (target_probs == nullptr), op,
             ": exactly one of labels and target_probs must be given");
}

}  // namespace

double softmax_cross_entropy_forward(std::int64_t n, std::int64_t k, const float* logits,
                                     const std::int32_t* labels, const float* target_probs,
                                     float* probs) {
  check_sizes("softmax_cross_entropy_forward", n, k, labels, target_probs);
  if (n == 0) return 0.0;  // the mean of nothing, as on the CPU
  DeviceLease lease;       // the workspace holds (n + 1) doubles: the row losses, then their sum
  const cudaStream_t s = lease.stream();
  auto* row_loss = static_cast<double*>(lease.workspace(sizeof(double) * (n + 1)));
  double* total = row_loss + n;
  softmax_cross_entropy_forward_kernel<<<row_blocks(n), row_threads(k), 0, s>>>(
      n, k, logits, labels, target_probs, probs, row_loss);
  KILN_LAUNCH_CHECK();
  sum_row_losses_kernel<<<1, 1024, 0, s>>>(n, row_loss, total);
  KILN_LAUNCH_CHECK();
  double host = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(&host, total, sizeof(double), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return host / static_cast<double>(n);
}

void softmax_cross_entropy_backward(std::int64_t n, std::int64_t k, const float* probs,
                                    const std::int32_t* labels, const float* target_probs,
                                    float scale, float* glogits) {
  check_sizes("softmax_cross_entropy_backward", n, k, labels, target_probs);
  if (n == 0) return;
  softmax_cross_entropy_backward_kernel<<<blocks_for(n * k), kThreads, 0, stream()>>>(
      n, k, probs, labels, target_probs, scale, glogits);
  KILN_LAUNCH_CHECK();
}

void count_correct(std::int64_t n, std::int64_t k, const float* logits, const std::int32_t* labels,
                   std::int64_t* correct) {
  KILN_CHECK(n >= 0 && k > 0 && k <= 0x7fffffff, "count_correct: bad logits shape (", n, ", ", k,
             ")");
  KILN_CHECK(labels != nullptr, "count_correct: labels are required");
  if (n == 0) return;
  count_correct_kernel<<<row_blocks(n), row_threads(k), 0, stream()>>>(n, k, logits, labels,
                                                                       correct);
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
