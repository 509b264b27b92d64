// Max pooling, NCHW (device code, device_code.h): the twin of kernels/cpu/pool2d.cpp, equal to it
// bit for bit, with the queue_* functions that launch it (launch.h), used by
// kernels/cuda/pool2d.cu and tests/kernels/pool_dropout_augment_emulated_test.cpp.
//
// Forward: one thread per output, grid-stride over N*C*P*Q. Each thread walks its window in the
// CPU reference's row-major order with the same comparison (strictly greater, padding skipped, a
// NaN beats a number), so values and argmax match the CPU exactly, ties included.
//
// Backward as a GATHER, not a scatter: one thread per INPUT cell, grid-stride over N*C*H*W. The
// cell visits the few outputs whose windows contain it (ceil(kh/stride_h) x ceil(kw/stride_w) of
// them) in row-major output order and adds gy where argmax points back at it. Every gx element
// is written exactly once (zero when no window chose it), so there is no separate zeroing pass,
// no race, and no float atomicAdd, whose order, and so whose rounding, would change from run to
// run when windows overlap (stride < window). Adding in row-major output order starting from 0 is
// the CPU's exact order, so even overlapping windows give the CPU's bits.
#pragma once

#include <cstdint>

#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"
#include "kernels/pool2d.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

__global__ void max_pool2d_forward_kernel(Pool2dGeometry g, std::int64_t P, std::int64_t Q,
                                          const float* x, float* y, std::int32_t* argmax) {
  const std::int64_t total = g.n * g.c * P * Q;
  for (std::int64_t o = grid_start(); o < total; o += grid_stride()) {
    const std::int64_t q = o % Q, p = (o / Q) % P, plane = o / (P * Q);
    const float* xp = x + plane * g.h * g.w;  // (H, W)
    std::int64_t best_at = -1;                // no cell seen yet
    float best = 0.f;
    for (std::int64_t i = 0; i < g.kh; ++i) {
      const std::int64_t h = p * g.stride_h - g.pad_h + i;
      if (h < 0 || h >= g.h) continue;  // padding never wins
      for (std::int64_t j = 0; j < g.kw; ++j) {
        const std::int64_t w = q * g.stride_w - g.pad_w + j;
        if (w < 0 || w >= g.w) continue;
        const float v = xp[h * g.w + w];
        if (best_at < 0 || pool_beats(v, best)) best = v, best_at = h * g.w + w;
      }
    }
    y[o] = best;
    argmax[o] = static_cast<std::int32_t>(best_at);
  }
}

__global__ void max_pool2d_backward_kernel(Pool2dGeometry g, std::int64_t P, std::int64_t Q,
                                           const float* gy, const std::int32_t* argmax, float* gx) {
  const std::int64_t total = g.n * g.c * g.h * g.w;
  for (std::int64_t idx = grid_start(); idx < total; idx += grid_stride()) {
    const std::int64_t w = idx % g.w, h = (idx / g.w) % g.h, plane = idx / (g.h * g.w);
    // Outputs p whose rows [p*s - pad, p*s - pad + kh) hold h: ceil((h+pad-kh+1)/s) <= p <=
    // floor((h+pad)/s), within [0, P). Likewise q. (The numerators of the lower bounds may be
    // negative, where C++ division would round towards zero, hence the explicit max.)
    const std::int64_t h_num = h + g.pad_h - g.kh + 1, w_num = w + g.pad_w - g.kw + 1;
    const std::int64_t p_begin = h_num <= 0 ? 0 : (h_num + g.stride_h - 1) / g.stride_h;
    const std::int64_t q_begin = w_num <= 0 ? 0 : (w_num + g.stride_w - 1) / g.stride_w;
    const std::int64_t p_floor = (h + g.pad_h) / g.stride_h, q_floor = (w + g.pad_w) / g.stride_w;
    const std::int64_t p_last = p_floor < P - 1 ? p_floor : P - 1;
    const std::int64_t q_last = q_floor < Q - 1 ? q_floor : Q - 1;
    const std::int64_t self = h * g.w + w;  // this cell's index within its plane
    const float* gyp = gy + plane * P * Q;
    const std::int32_t* ap = argmax + plane * P * Q;
    float acc = 0.f;
    for (std::int64_t p = p_begin; p <= p_last; ++p)
      for (std::int64_t q = q_begin; q <= q_last; ++q)
        if (ap[p * Q + q] == self) acc += gyp[p * Q + q];
    gx[idx] = acc;
  }
}

// y and argmax (N, C, P, Q) from x (N, C, H, W), for a checked geometry with outputs.
template <class Launch>
void queue_max_pool2d_forward(const Launch& launch, const Pool2dGeometry& g, const float* x,
                              float* y, std::int32_t* argmax) {
  const std::int64_t P = g.p(), Q = g.q();
  launch(grid_stride_shape(launch, g.n * g.c * P * Q), max_pool2d_forward_kernel, g, P, Q, x, y,
         argmax);
}

// gx (N, C, H, W), every element written, for a checked geometry with N*C*H*W > 0. With no
// outputs (P or Q <= 0) every cell's output range is empty, so gx is zeroed, as on the CPU.
template <class Launch>
void queue_max_pool2d_backward(const Launch& launch, const Pool2dGeometry& g, const float* gy,
                               const std::int32_t* argmax, float* gx) {
  const std::int64_t P = g.p(), Q = g.q();
  launch(grid_stride_shape(launch, g.n * g.c * g.h * g.w), max_pool2d_backward_kernel, g, P, Q, gy,
         argmax, gx);
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
