// Max-pooling kernels, NCHW. Outputs are overwritten; nothing aliases.
// The forward also writes argmax: for each output, the index h * W + w of the winning input
// within its (n, c) plane. The backward scatters through it, so it never re-decides ties.
// NOTE: ties go to the first maximum in row-major window order; padding never wins (it counts as
// -infinity, so an all-negative window still picks a real cell); a NaN wins, so it propagates
// (pool_beats below: the one definition every kernel uses).
// Requires pad_h < kh and pad_w < kw (check_pool2d_geometry: a window must hold a real cell).
#pragma once

#include <cstdint>

#include "base/host_device.h"
#include "kernels/kernel_family.h"

namespace kiln::kernels {

struct Pool2dGeometry {
  std::int64_t n, c, h, w;  // input (N, C, H, W)
  std::int64_t kh, kw;      // window
  std::int64_t stride_h, stride_w;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t p() const { return (h + 2 * pad_h - kh) / stride_h + 1; }
  std::int64_t q() const { return (w + 2 * pad_w - kw) / stride_w + 1; }
};

// Throws kiln::Error, naming `op` and the values, unless the kernels handle `g`: non-negative
// sizes, a positive window and stride, padding smaller than the window (else a window could lie
// wholly in the padding and have no winner: argmax would point nowhere and the backward write out
// of bounds), a window no larger than the padded input, and a plane small enough for int32
// argmax indices. Core, the CPU kernels and the CUDA launchers all call it.
void check_pool2d_geometry(const Pool2dGeometry& g, const char* op);

// Whether value v takes the window over from the best so far: strictly greater, so ties keep the
// first maximum, and a NaN beats any number but not an earlier NaN, so a NaN input reaches the
// output (as in PyTorch) instead of vanishing. v != v is the NaN test (Kiln never builds with
// -ffast-math): one expression the CPU reference, the CPU's vectorised 2x2 path (compare and
// blend) and the CUDA kernels share, so their values and argmax agree to the bit.
template <typename T>
KILN_HOST_DEVICE inline bool pool_beats(T v, T best) {
  return v > best || (v != v && best == best);
}

namespace cpu {

template <typename T>
void max_pool2d_forward_reference(const Pool2dGeometry& g, const T* x, T* y, std::int32_t* argmax);
// gx (N,C,H,W): zero everywhere but the winners, which receive the sum of their outputs' gy.
template <typename T>
void max_pool2d_backward_reference(const Pool2dGeometry& g, const T* gy, const std::int32_t* argmax,
                                   T* gx);

// OpenMP over (n, c) planes; the same contract (float only).
void max_pool2d_forward_fast(const Pool2dGeometry& g, const float* x, float* y,
                             std::int32_t* argmax);
void max_pool2d_backward_fast(const Pool2dGeometry& g, const float* gy, const std::int32_t* argmax,
                              float* gx);

}  // namespace cpu

// CUDA twins: Kiln's own kernels (cuDNN's pooling is only the benchmark rival), same contract.
namespace cuda {
void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, std::int32_t* argmax);
void max_pool2d_backward(const Pool2dGeometry& g, const float* gy, const std::int32_t* argmax,
                         float* gx);
}  // namespace cuda
}  // namespace kiln::kernels

// The families core/dispatch.h runs (kernels/kernel_family.h).
namespace kiln::kernels {
KILN_KERNEL_FAMILY(MaxPool2dForward, cpu::max_pool2d_forward_fast,
                   cpu::max_pool2d_forward_reference, cuda::max_pool2d_forward);
KILN_KERNEL_FAMILY(MaxPool2dBackward, cpu::max_pool2d_backward_fast,
                   cpu::max_pool2d_backward_reference, cuda::max_pool2d_backward);
}  // namespace kiln::kernels
