// Max pooling on the CPU: a reference (templated, bounds-checked per tap) and a fast float path
// (window clamped to the input once per output, OpenMP over (n, c) planes). Both visit a window's
// cells in the same row-major order with the same comparison, so they agree bit for bit,
// argmax included; the tests compare them exactly.
#include "kernels/pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "base/error.h"

namespace kiln::kernels::cpu {
namespace {}  // namespace

template <typename T>
void max_pool2d_forward_reference(const Pool2dGeometry& g, const T* x, T* y, std::int32_t* argmax) {
  check_pool2d_geometry(g, "max_pool2d_forward");
  const std::int64_t P = g.p(), Q = g.q();
  for (std::int64_t plane = 0; plane < g.n * g.c; ++plane) {
    const T* xp = x + plane * g.h * g.w;  // (H, W)
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        std::int64_t best_at = -1;  // no cell seen yet
        T best = T(0);
        for (std::int64_t i = 0; i < g.kh; ++i)
          for (std::int64_t j = 0; j < g.kw; ++j) {
            const std::int64_t h = p * g.stride_h - g.pad_h + i;
            const std::int64_t w = q * g.stride_w - g.pad_w + j;
            if (h < 0 || h >= g.h || w < 0 || w >= g.w) continue;  // padding never wins
            const T v = xp[h * g.w + w];
            if (best_at < 0 || pool_beats(v, best)) best = v, best_at = h * g.w + w;
          }
        y[(plane * P + p) * Q + q] = best;
        argmax[(plane * P + p) * Q + q] = static_cast<std::int32_t>(best_at);
      }
  }
}

template <typename T>
void max_pool2d_backward_reference(const Pool2dGeometry& g, const T* gy, const std::int32_t* argmax,
                                   T* gx) {
  const std::int64_t plane_in = g.h * g.w, plane_out = g.p() * g.q();
  for (std::int64_t i = 0; i < g.n * g.c * plane_in; ++i) gx[i] = T(0);
  for (std::int64_t plane = 0; plane < g.n * g.c; ++plane)
    for (std::int64_t o = 0; o < plane_out; ++o)
      gx[plane * plane_in + argmax[plane * plane_out + o]] += gy[plane * plane_out + o];
}

template void max_pool2d_forward_reference<float>(const Pool2dGeometry&, const float*, float*,
                                                  std::int32_t*);
template void max_pool2d_forward_reference<double>(const Pool2dGeometry&, const double*, double*,
                                                   std::int32_t*);
template void max_pool2d_backward_reference<float>(const Pool2dGeometry&, const float*,
                                                   const std::int32_t*, float*);
template void max_pool2d_backward_reference<double>(const Pool2dGeometry&, const double*,
                                                    const std::int32_t*, double*);

namespace {

// VGG's pooling: 2x2 windows, stride 2, no padding, so every window is whole. The four candidates
// are compared with selects (pool_beats, whose v != v NaN test has no branch), which the
// compiler turns into vector compare-and-blend along q; the general loop's data-dependent branch
// mispredicts about half the time on real activations (bench/pool_bench.cpp). Candidates are taken
// in row-major window order, so ties and NaNs resolve exactly as in the reference.
void max_pool2d_2x2_plane(std::int64_t W, std::int64_t P, std::int64_t Q, const float* xp,
                          float* yp, std::int32_t* ap) {
  for (std::int64_t p = 0; p < P; ++p) {
    const float* row0 = xp + 2 * p * W;
    const float* row1 = row0 + W;
    const std::int32_t base = static_cast<std::int32_t>(2 * p * W);
    const std::int32_t width = static_cast<std::int32_t>(W);
#pragma omp simd
    for (std::int64_t q = 0; q < Q; ++q) {
      const std::int32_t at0 = base + 2 * static_cast<std::int32_t>(q);
      float best = row0[2 * q];
      std::int32_t best_at = at0;
      const float candidates[3] = {row0[2 * q + 1], row1[2 * q], row1[2 * q + 1]};
      const std::int32_t offsets[3] = {1, width, width + 1};
      for (int i = 0; i < 3; ++i) {
        const float v = candidates[i];
        const bool wins = pool_beats(v, best);
        best = wins ? v : best;
        best_at = wins ? at0 + offsets[i] : best_at;
      }
      yp[p * Q + q] = best;
      ap[p * Q + q] = best_at;
    }
  }
}

}  // namespace

void max_pool2d_forward_fast(const Pool2dGeometry& g, const float* x, float* y,
                             std::int32_t* argmax) {
  check_pool2d_geometry(g, "max_pool2d_forward");
  const std::int64_t H = g.h, W = g.w, P = g.p(), Q = g.q();
  if (g.kh == 2 && g.kw == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 &&
      g.pad_w == 0) {
#pragma omp parallel for schedule(static)
    for (std::int64_t plane = 0; plane < g.n * g.c; ++plane) {
      max_pool2d_2x2_plane(W, P, Q, x + plane * H * W, y + plane * P * Q, argmax + plane * P * Q);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t plane = 0; plane < g.n * g.c; ++plane) {
    const float* xp = x + plane * H * W;        // (H, W)
    float* yp = y + plane * P * Q;              // (P, Q)
    std::int32_t* ap = argmax + plane * P * Q;  // (P, Q)
    for (std::int64_t p = 0; p < P; ++p) {
      const std::int64_t h0 = p * g.stride_h - g.pad_h;
      const std::int64_t h_begin = std::max<std::int64_t>(h0, 0);
      const std::int64_t h_end = std::min(h0 + g.kh, H);
      for (std::int64_t q = 0; q < Q; ++q) {
        const std::int64_t w0 = q * g.stride_w - g.pad_w;
        const std::int64_t w_begin = std::max<std::int64_t>(w0, 0);
        const std::int64_t w_end = std::min(w0 + g.kw, W);
        // pad < window (checked above), so the clamped window is never empty.
        std::int64_t best_at = h_begin * W + w_begin;
        float best = xp[best_at];
        for (std::int64_t h = h_begin; h < h_end; ++h)
          for (std::int64_t w = w_begin; w < w_end; ++w)
            if (pool_beats(xp[h * W + w], best)) best = xp[h * W + w], best_at = h * W + w;
        yp[p * Q + q] = best;
        ap[p * Q + q] = static_cast<std::int32_t>(best_at);
      }
    }
  }
}

void max_pool2d_backward_fast(const Pool2dGeometry& g, const float* gy, const std::int32_t* argmax,
                              float* gx) {
  const std::int64_t plane_in = g.h * g.w, plane_out = g.p() * g.q();
  // Each thread owns whole planes, and argmax never leaves its plane, so the scatter has no races.
#pragma omp parallel for schedule(static)
  for (std::int64_t plane = 0; plane < g.n * g.c; ++plane) {
    float* gxp = gx + plane * plane_in;  // (H, W)
    for (std::int64_t i = 0; i < plane_in; ++i) gxp[i] = 0.f;
    for (std::int64_t o = 0; o < plane_out; ++o)
      gxp[argmax[plane * plane_out + o]] += gy[plane * plane_out + o];
  }
}

}  // namespace kiln::kernels::cpu
