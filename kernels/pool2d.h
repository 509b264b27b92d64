// Max-pooling kernels, NCHW. Outputs are overwritten; nothing aliases.
// The forward also writes argmax: for each output, the index h * W + w of the winning input
// within its (n, c) plane. The backward scatters through it, so it never re-decides ties.
// NOTE: ties go to the first maximum in row-major window order; padding never wins (it counts as
// -infinity, so an all-negative window still picks a real cell); a NaN wins, so it propagates.
// Requires pad_h < kh and pad_w < kw (checked: a window must hold at least one real cell).
#pragma once

#include <cstdint>

namespace kiln::kernels {

struct Pool2dGeometry {
  std::int64_t n, c, h, w;  // input (N, C, H, W)
  std::int64_t kh, kw;      // window
  std::int64_t stride_h, stride_w;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t p() const { return (h + 2 * pad_h - kh) / stride_h + 1; }
  std::int64_t q() const { return (w + 2 * pad_w - kw) / stride_w + 1; }
};

namespace cpu {

template <typename T>
void max_pool2d_forward_reference(const Pool2dGeometry& g, const T* x, T* y,
                                  std::int32_t* argmax);
// gx (N,C,H,W): zero everywhere but the winners, which receive the sum of their outputs' gy.
template <typename T>
void max_pool2d_backward_reference(const Pool2dGeometry& g, const T* gy,
                                   const std::int32_t* argmax, T* gx);

// OpenMP over (n, c) planes; the same contract (float only).
void max_pool2d_forward_fast(const Pool2dGeometry& g, const float* x, float* y,
                             std::int32_t* argmax);
void max_pool2d_backward_fast(const Pool2dGeometry& g, const float* gy,
                              const std::int32_t* argmax, float* gx);

}  // namespace cpu

// CUDA twins: Kiln's own kernels (cuDNN's pooling is only the benchmark rival), same contract.
namespace cuda {
void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, std::int32_t* argmax);
void max_pool2d_backward(const Pool2dGeometry& g, const float* gy, const std::int32_t* argmax,
                         float* gx);
}  // namespace cuda
}  // namespace kiln::kernels
