// Max pooling on the GPU, NCHW: the twin of kernels/cpu/pool2d.cpp, equal to it bit for bit. The
// kernels and their launches are in pool2d_kernels.cuh (run on the CPU by the emulated tests);
// this file checks the geometry and binds the launches to Kiln's stream.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "base/error.h"
#include "kernels/cuda/pool2d_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/pool2d.h"

namespace kiln::kernels::cuda {
void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, std::int32_t* argmax) {
  check_pool2d_geometry(g, "max_pool2d_forward");
  const std::int64_t P = g.p(), Q = g.q();
  if (g.n * g.c == 0 || P <= 0 || Q <= 0) return;  // as the CPU loops, which then run no steps
  detail::queue_max_pool2d_forward(detail::StreamLaunch{stream()}, g, x, y, argmax);
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* gy, const std::int32_t* argmax,
                         float* gx) {
  check_pool2d_geometry(g, "max_pool2d_backward");
  if (g.n * g.c * g.h * g.w == 0) return;
  // NOTE: with no outputs (P or Q <= 0) the CPU still zeroes gx; the gather does too.
  detail::queue_max_pool2d_backward(detail::StreamLaunch{stream()}, g, gy, argmax, gx);
}

}  // namespace kiln::kernels::cuda
