// Max pooling on the GPU, NCHW: the twin of kernels/cpu/pool2d.cpp, equal to it bit for bit. The
// kernels and their launches are in pool2d_kernels.cuh (run on the CPU by the emulated tests);
// this file checks the geometry and binds the launches to Kiln's stream.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "core/error.h"
#include "kernels/cuda/pool2d_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/pool2d.h"

namespace kiln::kernels::cuda {
namespace {

void check_geometry(const Pool2dGeometry& g, const char* op) {
  KILN_CHECK(g.n >= 0 && g.c >= 0 && g.h >= 0 && g.w >= 0 && g.kh > 0 && g.kw > 0 &&
                 g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 && g.pad_w >= 0,
             op, ": bad geometry (input ", g.n, "x", g.c, "x", g.h, "x", g.w, ", window ", g.kh,
             "x", g.kw, ", stride ", g.stride_h, "x", g.stride_w, ", padding ", g.pad_h, "x",
             g.pad_w, ")");
  // NOTE: with pad >= window a window could lie wholly in the padding and have no winner.
  KILN_CHECK(g.pad_h < g.kh && g.pad_w < g.kw, op, ": padding (", g.pad_h, ",", g.pad_w,
             ") must be smaller than the window (", g.kh, ",", g.kw, ")");
  KILN_CHECK(g.h * g.w <= std::numeric_limits<std::int32_t>::max(), op, ": a ", g.h, "x", g.w,
             " plane is too large for int32 argmax indices");
}

}  // namespace

void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, std::int32_t* argmax) {
  check_geometry(g, "max_pool2d_forward");
  const std::int64_t P = g.p(), Q = g.q();
  if (g.n * g.c == 0 || P <= 0 || Q <= 0) return;  // as the CPU loops, which then run no steps
  detail::queue_max_pool2d_forward(detail::StreamLaunch{stream()}, g, x, y, argmax);
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* gy, const std::int32_t* argmax,
                         float* gx) {
  check_geometry(g, "max_pool2d_backward");
  if (g.n * g.c * g.h * g.w == 0) return;
  // NOTE: with no outputs (P or Q <= 0) the CPU still zeroes gx; the gather does too.
  detail::queue_max_pool2d_backward(detail::StreamLaunch{stream()}, g, gy, argmax, gx);
}

}  // namespace kiln::kernels::cuda
