// Batch normalisation over the channels of NCHW tensors (device code, device_code.h): the twins of
// kernels/cpu/batch_norm.cpp (contracts and formulas: kernels/batch_norm.h), with the queue_*
// functions that choose and launch them (launch.h), used by kernels/cuda/batch_norm.cu and
// tests/kernels/batch_norm_emulated_test.cpp.
//
// What must stay true: every operation is the CPU's, in double, written as a correctly rounded
// intrinsic (__dadd_rn, __dmul_rn, ...), because nvcc would otherwise contract a multiply and an
// add into an FMA, which rounds once where the CPU rounds twice. So for the same inputs the
// elementwise kernels give the CPU's bits, and the per-channel sums differ from the CPU's only by
// the order of their additions.
//
// Statistics and gradient sums: one block per channel. Thread t sums, in double, the positions
// t, t + Threads, t + 2 Threads, ... of the channel's N x HW values in (image, j) order, then
// block_reduce combines the threads' sums in its fixed tree. The block size depends only on the
// shape (256 threads; 1024 for channels of 2^15 values or more, to keep more loads in flight when
// only C blocks run), so the order, and the bits, repeat run to run and device to device; no
// atomics. The statistics read the channel twice, the mean and then the squared deviations from
// it, as the CPU does: one pass of sums and sums of squares cancels catastrophically when the mean
// is large against the spread.
//
// Forward and input gradient: grid-stride elementwise loops, channel (i / HW) % C. They run on
// float4 when HW % 4 == 0 and every tensor pointer is 16-byte aligned (a vector never straddles
// two planes), so the channel's division pair and its double square root and division are paid
// once per four elements: per element they would make these kernels bound by arithmetic rather
// than memory. And in 32-bit indices when the tensor allows, since 64-bit integer division is
// emulated in software on the GPU. (bias_kernels.cuh makes the same two choices.)
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/cuda/block_reduce.h"
#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

// ---------------------------------------------------------------------------------------------
// The per-element arithmetic, the CPU's formulas operation for operation.

// 1 / sqrt(var + eps), correctly rounded at each step (the CPU's inverse_std).
__device__ inline double batch_norm_inverse_std(float var, double eps) {
  return __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(static_cast<double>(var), eps)));
}

// ((x - mean) * invstd) * gamma + beta, rounded to float once.
__device__ inline float batch_norm_normalize(float x, double mean, double invstd, double gamma,
                                             double beta) {
  const double xhat = __dmul_rn(__dsub_rn(static_cast<double>(x), mean), invstd);
  return static_cast<float>(__dadd_rn(__dmul_rn(xhat, gamma), beta));
}

// One channel's constants of the input gradient, as the CPU's input_gradient_plane sets them:
// sum_gy and sum_gy_xhat are gbeta and ggamma as rounded to float, read back.
struct BatchNormGradChannel {
  double mean, invstd, scale;  // scale = gamma * invstd
  double sum_gy, sum_gy_xhat;
};

__device__ inline BatchNormGradChannel batch_norm_grad_channel(std::int64_t ch, double eps,
                                                               const float* mean, const float* var,
                                                               const float* gamma,
                                                               const float* ggamma,
                                                               const float* gbeta) {
  BatchNormGradChannel k;
  k.mean = mean[ch];
  k.invstd = batch_norm_inverse_std(var[ch], eps);
  k.scale = __dmul_rn(static_cast<double>(gamma[ch]), k.invstd);
  k.sum_gy = gbeta[ch];
  k.sum_gy_xhat = ggamma[ch];
  return k;
}

// gamma * invstd * (gy - (gbeta + xhat * ggamma) / M) with batch statistics, gamma * invstd * gy
// with running ones. NOTE: (...) / M stays a division, as on the CPU: a multiply by 1 / M would
// round differently.
__device__ inline float batch_norm_input_grad(const BatchNormGradChannel& k, double m,
                                              bool batch_stats, float x, float gy) {
  const double g = gy;
  if (!batch_stats) return static_cast<float>(__dmul_rn(k.scale, g));
  const double xhat = __dmul_rn(__dsub_rn(static_cast<double>(x), k.mean), k.invstd);
  const double mean_term = __ddiv_rn(__dadd_rn(k.sum_gy, __dmul_rn(xhat, k.sum_gy_xhat)), m);
  return static_cast<float>(__dmul_rn(k.scale, __dsub_rn(g, mean_term)));
}

// ---------------------------------------------------------------------------------------------
// Per-channel sums: one block per channel.

// Loads a thread issues before adding them in visiting order (the sum is the same as one load at
// a time, with more memory in flight).
constexpr int kBatchNormUnroll = 4;

// The positions of channel ch's N x HW values that thread threadIdx.x of a Threads-thread block
// visits: threadIdx.x, + Threads, + 2 Threads, ... in (image, j) order, as offsets of
// (image, ch, j) in an (N, C, HW) tensor, advanced by additions only (no division per element).
template <int Threads>
class BatchNormChannelWalk {
 public:
  __device__ BatchNormChannelWalk(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t ch)
      : n_(n),
        hw_(hw),
        plane_stride_(c * hw),
        step_image_(Threads / hw),
        step_j_(Threads % hw),
        image_(threadIdx.x / hw),
        j_(threadIdx.x % hw),
        offset_(image_ * plane_stride_ + ch * hw + j_) {}

  __device__ bool done() const { return image_ >= n_; }

  // The next kBatchNormUnroll offsets; -1 for those past the channel's end.
  __device__ void next(std::int64_t (&offsets)[kBatchNormUnroll]) {
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u) {
      offsets[u] = done() ? -1 : offset_;
      image_ += step_image_;
      j_ += step_j_;
      offset_ += step_image_ * plane_stride_ + step_j_;
      if (j_ >= hw_) {  // wrapped into the next image's plane
        j_ -= hw_;
        ++image_;
        offset_ += plane_stride_ - hw_;
      }
    }
  }

 private:
  std::int64_t n_, hw_, plane_stride_;  // plane_stride_: elements from image i to i + 1
  std::int64_t step_image_, step_j_;
  std::int64_t image_, j_, offset_;
};

// mean[ch], var[ch] for ch = blockIdx.x, and the running statistics' update when running_mean is
// not null (momentum * running + (1 - momentum) * batch, in double from the unrounded batch
// statistics, then rounded, as on the CPU).
template <int Threads>
__global__ void __launch_bounds__(Threads)
    batch_norm_stats_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, const float* x,
                            float* mean, float* var, double momentum, float* running_mean,
                            float* running_var) {
  __shared__ double scratch[32];
  const std::int64_t ch = blockIdx.x;
  const double m = static_cast<double>(n * hw);
  std::int64_t at[kBatchNormUnroll];
  float v[kBatchNormUnroll];

  double sum = 0.0;
  for (BatchNormChannelWalk<Threads> walk(n, c, hw, ch); !walk.done();) {
    walk.next(at);
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u) v[u] = at[u] >= 0 ? x[at[u]] : 0.f;
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u)
      if (at[u] >= 0) sum = __dadd_rn(sum, static_cast<double>(v[u]));
  }
  const double mu = __ddiv_rn(block_reduce(sum, Sum{}, 0.0, scratch), m);

  // Second pass (the channel is likely still in L2): no cancellation of a large mean.
  double squares = 0.0;
  for (BatchNormChannelWalk<Threads> walk(n, c, hw, ch); !walk.done();) {
    walk.next(at);
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u) v[u] = at[u] >= 0 ? x[at[u]] : 0.f;
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u) {
      if (at[u] < 0) continue;
      const double d = __dsub_rn(static_cast<double>(v[u]), mu);
      squares = __dadd_rn(squares, __dmul_rn(d, d));
    }
  }
  squares = block_reduce(squares, Sum{}, 0.0, scratch);
  if (threadIdx.x != 0) return;
  const double sigma2 = __ddiv_rn(squares, m);
  mean[ch] = static_cast<float>(mu);
  var[ch] = static_cast<float>(sigma2);
  if (running_mean != nullptr) {
    const double keep = momentum, take = __dsub_rn(1.0, momentum);
    running_mean[ch] = static_cast<float>(
        __dadd_rn(__dmul_rn(keep, static_cast<double>(running_mean[ch])), __dmul_rn(take, mu)));
    running_var[ch] = static_cast<float>(
        __dadd_rn(__dmul_rn(keep, static_cast<double>(running_var[ch])), __dmul_rn(take, sigma2)));
  }
}

// ggamma[ch] = sum of gy * xhat, gbeta[ch] = sum of gy, for ch = blockIdx.x, in one pass over x
// and gy.
template <int Threads>
__global__ void __launch_bounds__(Threads)
    batch_norm_backward_sums_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, double eps,
                                    const float* x, const float* gy, const float* mean,
                                    const float* var, float* ggamma, float* gbeta) {
  __shared__ double scratch[32];
  const std::int64_t ch = blockIdx.x;
  const double mu = mean[ch], invstd = batch_norm_inverse_std(var[ch], eps);
  std::int64_t at[kBatchNormUnroll];
  float xv[kBatchNormUnroll], gv[kBatchNormUnroll];
  double sum_gy = 0.0, sum_gy_xhat = 0.0;
  for (BatchNormChannelWalk<Threads> walk(n, c, hw, ch); !walk.done();) {
    walk.next(at);
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u) {
      xv[u] = at[u] >= 0 ? x[at[u]] : 0.f;
      gv[u] = at[u] >= 0 ? gy[at[u]] : 0.f;
    }
    KILN_UNROLL
    for (int u = 0; u < kBatchNormUnroll; ++u) {
      if (at[u] < 0) continue;
      const double g = gv[u];
      const double xhat = __dmul_rn(__dsub_rn(static_cast<double>(xv[u]), mu), invstd);
      sum_gy = __dadd_rn(sum_gy, g);
      sum_gy_xhat = __dadd_rn(sum_gy_xhat, __dmul_rn(g, xhat));
    }
  }
  sum_gy = block_reduce(sum_gy, Sum{}, 0.0, scratch);
  sum_gy_xhat = block_reduce(sum_gy_xhat, Sum{}, 0.0, scratch);
  if (threadIdx.x == 0) {
    ggamma[ch] = static_cast<float>(sum_gy_xhat);
    gbeta[ch] = static_cast<float>(sum_gy);
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise: Index is std::uint32_t when every index fits, else int64.

// y (total / (C*HW), C, HW) = the normalised x.
template <typename Index>
__global__ void batch_norm_forward_kernel(Index total, Index c, Index hw, double eps,
                                          const float* x, const float* mean, const float* var,
                                          const float* gamma, const float* beta, float* y) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const Index ch = (i / hw) % c;
    y[i] = batch_norm_normalize(x[i], mean[ch], batch_norm_inverse_std(var[ch], eps), gamma[ch],
                                beta[ch]);
  }
}

// The same on float4: total4 = total / 4 vectors, hw4 = HW / 4 vectors per (n, c) plane.
template <typename Index>
__global__ void batch_norm_forward_vec4_kernel(Index total4, Index c, Index hw4, double eps,
                                               const float4* x, const float* mean, const float* var,
                                               const float* gamma, const float* beta, float4* y) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total4;
       i += stride) {
    const Index ch = (i / hw4) % c;
    const double mu = mean[ch], invstd = batch_norm_inverse_std(var[ch], eps);
    const double g = gamma[ch], b = beta[ch];
    const float4 v = x[i];
    float4 out;
    out.x = batch_norm_normalize(v.x, mu, invstd, g, b);
    out.y = batch_norm_normalize(v.y, mu, invstd, g, b);
    out.z = batch_norm_normalize(v.z, mu, invstd, g, b);
    out.w = batch_norm_normalize(v.w, mu, invstd, g, b);
    y[i] = out;
  }
}

// gx (total / (C*HW), C, HW), from ggamma and gbeta as the sums kernel wrote them; m = N*HW.
template <typename Index>
__global__ void batch_norm_input_grad_kernel(Index total, Index c, Index hw, double m, double eps,
                                             bool batch_stats, const float* x, const float* gy,
                                             const float* mean, const float* var,
                                             const float* gamma, const float* ggamma,
                                             const float* gbeta, float* gx) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const BatchNormGradChannel k =
        batch_norm_grad_channel((i / hw) % c, eps, mean, var, gamma, ggamma, gbeta);
    gx[i] = batch_norm_input_grad(k, m, batch_stats, x[i], gy[i]);
  }
}

// The same on float4 (total4, hw4 as for the forward).
template <typename Index>
__global__ void batch_norm_input_grad_vec4_kernel(Index total4, Index c, Index hw4, double m,
                                                  double eps, bool batch_stats, const float4* x,
                                                  const float4* gy, const float* mean,
                                                  const float* var, const float* gamma,
                                                  const float* ggamma, const float* gbeta,
                                                  float4* gx) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total4;
       i += stride) {
    const BatchNormGradChannel k =
        batch_norm_grad_channel((i / hw4) % c, eps, mean, var, gamma, ggamma, gbeta);
    const float4 xv = x[i], gv = gy[i];
    float4 out;
    out.x = batch_norm_input_grad(k, m, batch_stats, xv.x, gv.x);
    out.y = batch_norm_input_grad(k, m, batch_stats, xv.y, gv.y);
    out.z = batch_norm_input_grad(k, m, batch_stats, xv.z, gv.z);
    out.w = batch_norm_input_grad(k, m, batch_stats, xv.w, gv.w);
    gx[i] = out;
  }
}

// ---------------------------------------------------------------------------------------------
// Launches.

// Channels of at least this many values get 1024-thread blocks; the choice depends on the shape
// alone, so the summation order stays fixed.
constexpr std::int64_t kBatchNormLongChannel = std::int64_t{1} << 15;

// One block per channel, its size by the channel's length: the kernel instance and its shape.
template <class Launch, class Kernel256, class Kernel1024, class... Args>
void queue_batch_norm_per_channel(const Launch& launch, std::int64_t c, std::int64_t m,
                                  Kernel256 kernel256, Kernel1024 kernel1024, const Args&... args) {
  const dim3 grid(static_cast<unsigned>(c));
  if (m >= kBatchNormLongChannel) {
    launch(LaunchShape{grid, dim3(1024), 0, 1024}, kernel1024, args...);
  } else {
    launch(LaunchShape{grid, dim3(kThreads), 0, kThreads}, kernel256, args...);
  }
}

// True when i + stride (at most the grid's threads past total) cannot wrap a 32-bit index.
template <class Launch>
bool batch_norm_fits_32_bits(const Launch& launch, std::int64_t total) {
  const std::int64_t slack = launch.grid_cap(kMaxBlocks) * kThreads;
  return total <= std::numeric_limits<std::uint32_t>::max() - slack;
}

inline bool batch_norm_aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// mean, var (C) of x (N, C, HW), and the running statistics when running_mean is not null, for
// C > 0, N*HW > 0 and C < 2^31 (one block per channel).
template <class Launch>
void queue_batch_norm_stats(const Launch& launch, std::int64_t n, std::int64_t c, std::int64_t hw,
                            const float* x, float* mean, float* var, double momentum,
                            float* running_mean, float* running_var) {
  queue_batch_norm_per_channel(launch, c, n * hw, batch_norm_stats_kernel<kThreads>,
                               batch_norm_stats_kernel<1024>, n, c, hw, x, mean, var, momentum,
                               running_mean, running_var);
}

// y = the normalised x with indices of type Index (queue_batch_norm_forward chooses; a test may
// force int64): float4 when HW % 4 == 0 and x and y are 16-byte aligned.
template <typename Index, class Launch>
void queue_batch_norm_forward_indexed(const Launch& launch, std::int64_t total, std::int64_t c,
                                      std::int64_t hw, double eps, const float* x,
                                      const float* mean, const float* var, const float* gamma,
                                      const float* beta, float* y) {
  if (hw % 4 == 0 && batch_norm_aligned16(x) && batch_norm_aligned16(y)) {
    launch(grid_stride_shape(launch, total / 4), batch_norm_forward_vec4_kernel<Index>,
           static_cast<Index>(total / 4), static_cast<Index>(c), static_cast<Index>(hw / 4), eps,
           reinterpret_cast<const float4*>(x), mean, var, gamma, beta,
           reinterpret_cast<float4*>(y));
  } else {
    launch(grid_stride_shape(launch, total), batch_norm_forward_kernel<Index>,
           static_cast<Index>(total), static_cast<Index>(c), static_cast<Index>(hw), eps, x, mean,
           var, gamma, beta, y);
  }
}

// y (N, C, HW) = (x - mean) / sqrt(var + eps) * gamma + beta, for N*C*HW > 0.
template <class Launch>
void queue_batch_norm_forward(const Launch& launch, std::int64_t n, std::int64_t c, std::int64_t hw,
                              double eps, const float* x, const float* mean, const float* var,
                              const float* gamma, const float* beta, float* y) {
  const std::int64_t total = n * c * hw;
  if (batch_norm_fits_32_bits(launch, total)) {
    queue_batch_norm_forward_indexed<std::uint32_t>(launch, total, c, hw, eps, x, mean, var, gamma,
                                                    beta, y);
  } else {
    queue_batch_norm_forward_indexed<std::int64_t>(launch, total, c, hw, eps, x, mean, var, gamma,
                                                   beta, y);
  }
}

// gx from ggamma and gbeta with indices of type Index (queue_batch_norm_backward chooses; a test
// may force int64): float4 when HW % 4 == 0 and x, gy and gx are 16-byte aligned.
template <typename Index, class Launch>
void queue_batch_norm_input_grad_indexed(const Launch& launch, std::int64_t n, std::int64_t c,
                                         std::int64_t hw, double eps, bool batch_stats,
                                         const float* x, const float* gy, const float* mean,
                                         const float* var, const float* gamma, const float* ggamma,
                                         const float* gbeta, float* gx) {
  const std::int64_t total = n * c * hw;
  const double m = static_cast<double>(n * hw);
  if (hw % 4 == 0 && batch_norm_aligned16(x) && batch_norm_aligned16(gy) &&
      batch_norm_aligned16(gx)) {
    launch(grid_stride_shape(launch, total / 4), batch_norm_input_grad_vec4_kernel<Index>,
           static_cast<Index>(total / 4), static_cast<Index>(c), static_cast<Index>(hw / 4), m, eps,
           batch_stats, reinterpret_cast<const float4*>(x), reinterpret_cast<const float4*>(gy),
           mean, var, gamma, ggamma, gbeta, reinterpret_cast<float4*>(gx));
  } else {
    launch(grid_stride_shape(launch, total), batch_norm_input_grad_kernel<Index>,
           static_cast<Index>(total), static_cast<Index>(c), static_cast<Index>(hw), m, eps,
           batch_stats, x, gy, mean, var, gamma, ggamma, gbeta, gx);
  }
}

// ggamma, gbeta (C), then gx when not null (a second kernel, which reads the first's float sums),
// for C > 0, N*HW > 0 (the caller writes the empty sums) and C < 2^31 (one block per channel).
template <class Launch>
void queue_batch_norm_backward(const Launch& launch, std::int64_t n, std::int64_t c,
                               std::int64_t hw, double eps, bool batch_stats, const float* x,
                               const float* gy, const float* mean, const float* var,
                               const float* gamma, float* gx, float* ggamma, float* gbeta) {
  queue_batch_norm_per_channel(launch, c, n * hw, batch_norm_backward_sums_kernel<kThreads>,
                               batch_norm_backward_sums_kernel<1024>, n, c, hw, eps, x, gy, mean,
                               var, ggamma, gbeta);
  if (gx == nullptr) return;
  if (batch_norm_fits_32_bits(launch, n * c * hw)) {
    queue_batch_norm_input_grad_indexed<std::uint32_t>(launch, n, c, hw, eps, batch_stats, x, gy,
                                                       mean, var, gamma, ggamma, gbeta, gx);
  } else {
    queue_batch_norm_input_grad_indexed<std::int64_t>(launch, n, c, hw, eps, batch_stats, x, gy,
                                                      mean, var, gamma, ggamma, gbeta, gx);
  }
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
