// Reference convolutions: the definitions written as loops, to be checked by eye and used as the
// ground truth for the oneDNN and CUDA paths. Speed does not matter here; clarity does.
// Every kernel overwrites its outputs (backward data zeroes gx first, then scatters into it).
// Sums accumulate in T: float tests compare against oneDNN, which also sums in float.
#include <cstdint>

#include "kernels/conv2d.h"

namespace kiln::kernels::cpu {
namespace {

// Flat offsets into the NCHW / KCRS / NKPQ arrays.
struct Conv2dIndex {
  const Conv2dGeometry& g;
  std::int64_t x(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) const {
    return ((n * g.c + c) * g.h + h) * g.w + w;
  }
  std::int64_t w(std::int64_t k, std::int64_t c, std::int64_t r, std::int64_t s) const {
    return ((k * g.c + c) * g.r + r) * g.s + s;
  }
  std::int64_t y(std::int64_t n, std::int64_t k, std::int64_t p, std::int64_t q) const {
    return ((n * g.k + k) * g.p() + p) * g.q() + q;
  }
};

// The input row/column that window tap r (or s) of output row p (or column q) reads; it may fall
// in the zero padding, outside [0, H) or [0, W).
inline std::int64_t input_row(const Conv2dGeometry& g, std::int64_t p, std::int64_t r) {
  return p * g.stride_h - g.pad_h + r;
}
inline std::int64_t input_col(const Conv2dGeometry& g, std::int64_t q, std::int64_t s) {
  return q * g.stride_w - g.pad_w + s;
}
inline bool inside(const Conv2dGeometry& g, std::int64_t h, std::int64_t w) {
  return h >= 0 && h < g.h && w >= 0 && w < g.w;
}

}  // namespace

// y[n,k,p,q] = b[k] + sum over c,r,s of x[n, c, p*sh - ph + r, q*sw - pw + s] * w[k,c,r,s]
template <typename T>
void conv2d_forward_reference(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const Conv2dIndex at{g};
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t k = 0; k < g.k; ++k)
      for (std::int64_t p = 0; p < g.p(); ++p)
        for (std::int64_t q = 0; q < g.q(); ++q) {
          T sum = b ? b[k] : T(0);
          for (std::int64_t c = 0; c < g.c; ++c)
            for (std::int64_t r = 0; r < g.r; ++r)
              for (std::int64_t s = 0; s < g.s; ++s) {
                const std::int64_t h = input_row(g, p, r), v = input_col(g, q, s);
                if (inside(g, h, v)) sum += x[at.x(n, c, h, v)] * w[at.w(k, c, r, s)];
              }
          y[at.y(n, k, p, q)] = sum;
        }
}

// The forward's transpose: every product x[..] * w[k,c,r,s] that fed y[n,k,p,q] sends
// gy[n,k,p,q] * w[k,c,r,s] back to that x. Inputs no window reads (the rows and columns a stride
// skips at the end) get zero.
template <typename T>
void conv2d_backward_data_reference(const Conv2dGeometry& g, const T* gy, const T* w, T* gx) {
  const Conv2dIndex at{g};
  for (std::int64_t i = 0; i < g.n * g.c * g.h * g.w; ++i) gx[i] = T(0);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t k = 0; k < g.k; ++k)
      for (std::int64_t p = 0; p < g.p(); ++p)
        for (std::int64_t q = 0; q < g.q(); ++q)
          for (std::int64_t c = 0; c < g.c; ++c)
            for (std::int64_t r = 0; r < g.r; ++r)
              for (std::int64_t s = 0; s < g.s; ++s) {
                const std::int64_t h = input_row(g, p, r), v = input_col(g, q, s);
                if (inside(g, h, v))
                  gx[at.x(n, c, h, v)] += gy[at.y(n, k, p, q)] * w[at.w(k, c, r, s)];
              }
}

// gw[k,c,r,s] = sum over n,p,q of x[n, c, p*sh - ph + r, q*sw - pw + s] * gy[n,k,p,q]
// gb[k]       = sum over n,p,q of gy[n,k,p,q]
template <typename T>
void conv2d_backward_weight_reference(const Conv2dGeometry& g, const T* x, const T* gy, T* gw,
                                      T* gb) {
  const Conv2dIndex at{g};
  for (std::int64_t k = 0; k < g.k; ++k)
    for (std::int64_t c = 0; c < g.c; ++c)
      for (std::int64_t r = 0; r < g.r; ++r)
        for (std::int64_t s = 0; s < g.s; ++s) {
          T sum = T(0);
          for (std::int64_t n = 0; n < g.n; ++n)
            for (std::int64_t p = 0; p < g.p(); ++p)
              for (std::int64_t q = 0; q < g.q(); ++q) {
                const std::int64_t h = input_row(g, p, r), v = input_col(g, q, s);
                if (inside(g, h, v)) sum += x[at.x(n, c, h, v)] * gy[at.y(n, k, p, q)];
              }
          gw[at.w(k, c, r, s)] = sum;
        }
  if (!gb) return;
  for (std::int64_t k = 0; k < g.k; ++k) {
    T sum = T(0);
    for (std::int64_t n = 0; n < g.n; ++n)
      for (std::int64_t p = 0; p < g.p(); ++p)
        for (std::int64_t q = 0; q < g.q(); ++q) sum += gy[at.y(n, k, p, q)];
    gb[k] = sum;
  }
}

#define KILN_INSTANTIATE_CONV2D_REFERENCE(T)                                                       \
  template void conv2d_forward_reference<T>(const Conv2dGeometry&, const T*, const T*, const T*,   \
                                            T*);                                                   \
  template void conv2d_backward_data_reference<T>(const Conv2dGeometry&, const T*, const T*, T*);  \
  template void conv2d_backward_weight_reference<T>(const Conv2dGeometry&, const T*, const T*, T*, \
                                                    T*);
KILN_INSTANTIATE_CONV2D_REFERENCE(float)
KILN_INSTANTIATE_CONV2D_REFERENCE(double)
#undef KILN_INSTANTIATE_CONV2D_REFERENCE

}  // namespace kiln::kernels::cpu
