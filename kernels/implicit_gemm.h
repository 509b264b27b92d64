// Implicit GEMM: each convolution direction, and a plain matrix product, written as one problem
//   C[m][n] = sum over kk of A[m][kk] * B[kk][n],   0 <= m < rows, 0 <= n < cols, 0 <= kk < depth
// whose operands are never materialised: load_a / load_b GATHER an element straight from the
// convolution's tensors (zero where the window falls in the padding) and store SCATTERS a result
// into the output tensor. The tiled CUDA kernels (kernels/cuda/implicit_gemm.cuh) run any of these
// problems; tests/kernels/implicit_gemm_test.cpp evaluates them naively on the host against the CPU
// reference convolutions, so the index mapping, the error-prone part, is checked in every CI run.
//
// Contract of every problem: load_a(m, kk) and load_b(kk, n) are called only with m < rows,
// kk < depth, n < cols; store(m, n, v) is called exactly once per (m, n) and overwrites.
//
// Index math: GEMM coordinates and tensor dimensions are int (the CUDA launcher checks every
// dimension and rows, cols, depth fit in 31 bits), because 32-bit division is several times cheaper
// than 64-bit on the GPU; every memory offset is formed in 64 bits, since a tensor may hold more
// than 2^31 elements.
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/host_device.h"
#include "kernels/conv2d.h"

namespace kiln::kernels {

// A Conv2dGeometry in 32-bit pieces, with the products that the gathers divide by precomputed.
struct ConvShape {
  int n, c, h, w;  // input (N, C, H, W)
  int k, r, s;     // weight (K, C, R, S)
  int p, q;        // output (N, K, P, Q)
  int stride_h, stride_w, pad_h, pad_w;
  int hw, pq, rs, crs;  // H*W, P*Q, R*S, C*R*S
};

// Requires every dimension and the products above to fit in an int (checked by the caller).
inline ConvShape make_conv_shape(const Conv2dGeometry& g) {
  auto i = [](std::int64_t v) { return static_cast<int>(v); };
  ConvShape d{};
  d.n = i(g.n), d.c = i(g.c), d.h = i(g.h), d.w = i(g.w);
  d.k = i(g.k), d.r = i(g.r), d.s = i(g.s);
  d.p = i(g.p()), d.q = i(g.q());
  d.stride_h = i(g.stride_h), d.stride_w = i(g.stride_w), d.pad_h = i(g.pad_h),
  d.pad_w = i(g.pad_w);
  d.hw = i(g.h * g.w), d.pq = i(g.p() * g.q()), d.rs = i(g.r * g.s), d.crs = i(g.c * g.r * g.s);
  return d;
}

// x[n][c][p*stride_h - pad_h + r][q*stride_w - pad_w + s], or 0 in the padding: the im2col
// element that output pixel (n, p, q) multiplies with weight tap (c, r, s).
template <typename T>
KILN_HOST_DEVICE inline T gather_input(const ConvShape& d, const T* x, int n, int pq, int c,
                                       int rs) {
  const int p = pq / d.q, q = pq - p * d.q;
  const int r = rs / d.s, s = rs - r * d.s;
  const int h = p * d.stride_h - d.pad_h + r, w = q * d.stride_w - d.pad_w + s;
  if (h < 0 || h >= d.h || w < 0 || w >= d.w) return T(0);
  return x[((static_cast<std::int64_t>(n) * d.c + c) * d.h + h) * d.w + w];
}

// Forward: y (N,K,P,Q) = w (*) x + b.
//   rows = K, cols = N*P*Q (n, p, q), depth = C*R*S (c, r, s)
//   A[k][(c,r,s)] = w[k][c][r][s] (contiguous), B[(c,r,s)][(n,p,q)] = im2col of x.
template <typename T>
struct ConvForwardProblem {
  ConvShape d;
  const T* x;  // (N, C, H, W)
  const T* w;  // (K, C, R, S)
  const T* b;  // (K) or null
  T* y;        // (N, K, P, Q)
  int rows, cols, depth;

  ConvForwardProblem(const ConvShape& shape, const T* x_, const T* w_, const T* b_, T* y_)
      : d(shape),
        x(x_),
        w(w_),
        b(b_),
        y(y_),
        rows(shape.k),
        cols(shape.n * shape.pq),
        depth(shape.crs) {}

  KILN_HOST_DEVICE T load_a(int m, int kk) const {
    return w[static_cast<std::int64_t>(m) * d.crs + kk];
  }
  KILN_HOST_DEVICE T load_b(int kk, int col) const {
    const int n = col / d.pq, c = kk / d.rs;
    return gather_input(d, x, n, col - n * d.pq, c, kk - c * d.rs);
  }
  KILN_HOST_DEVICE void store(int m, int col, T v) const {
    const int n = col / d.pq;
    y[(static_cast<std::int64_t>(n) * d.k + m) * d.pq + (col - n * d.pq)] =
        b != nullptr ? v + b[m] : v;
  }
};

// Backward data: gx (N,C,H,W) = the transposed convolution of gy with w.
//   rows = C, cols = N*H*W (n, h, w), depth = K*R*S (k, r, s)
//   A[c][(k,r,s)] = w[k][c][r][s]
//   B[(k,r,s)][(n,h,w)] = gy[n][k][p][q] where h = p*stride_h - pad_h + r (and likewise w), i.e.
//   p = (h + pad_h - r) / stride_h when that division is exact and p in [0, P); else 0.
template <typename T>
struct ConvBackwardDataProblem {
  ConvShape d;
  const T* gy;  // (N, K, P, Q)
  const T* w;   // (K, C, R, S)
  T* gx;        // (N, C, H, W)
  int rows, cols, depth;

  ConvBackwardDataProblem(const ConvShape& shape, const T* gy_, const T* w_, T* gx_)
      : d(shape),
        gy(gy_),
        w(w_),
        gx(gx_),
        rows(shape.c),
        cols(shape.n * shape.hw),
        depth(shape.k * shape.rs) {}

  KILN_HOST_DEVICE T load_a(int m, int kk) const {
    const int k = kk / d.rs;
    return w[(static_cast<std::int64_t>(k) * d.c + m) * d.rs + (kk - k * d.rs)];
  }
  KILN_HOST_DEVICE T load_b(int kk, int col) const {
    const int k = kk / d.rs, rs = kk - k * d.rs, r = rs / d.s, s = rs - r * d.s;
    const int n = col / d.hw, hw = col - n * d.hw, h = hw / d.w, w_ = hw - h * d.w;
    const int ph = h + d.pad_h - r, qw = w_ + d.pad_w - s;  // p*stride_h and q*stride_w
    // NOTE: test the sign before dividing: C++ division truncates toward zero, so -1 / 2 == 0 would
    // pass for row 0.
    if (ph < 0 || qw < 0) return T(0);
    const int p = ph / d.stride_h, q = qw / d.stride_w;
    if (p * d.stride_h != ph || q * d.stride_w != qw || p >= d.p || q >= d.q) return T(0);
    return gy[((static_cast<std::int64_t>(n) * d.k + k) * d.p + p) * d.q + q];
  }
  KILN_HOST_DEVICE void store(int m, int col, T v) const {
    const int n = col / d.hw;
    gx[(static_cast<std::int64_t>(n) * d.c + m) * d.hw + (col - n * d.hw)] = v;
  }
};

// Backward weight: gw (K,C,R,S) = correlation of gy with x over the batch and output pixels.
//   rows = K, cols = C*R*S (c, r, s), depth = N*P*Q (n, p, q)
//   A[k][(n,p,q)] = gy[n][k][p][q], B[(n,p,q)][(c,r,s)] = im2col of x (the forward's B,
//   transposed).
// depth is large (65536 for VGG's first block at batch 64) while rows*cols is small, so the CUDA
// launcher splits depth across blocks (split-K) and sums the slices deterministically.
template <typename T>
struct ConvBackwardWeightProblem {
  ConvShape d;
  const T* x;   // (N, C, H, W)
  const T* gy;  // (N, K, P, Q)
  T* gw;        // (K, C, R, S)
  int rows, cols, depth;

  ConvBackwardWeightProblem(const ConvShape& shape, const T* x_, const T* gy_, T* gw_)
      : d(shape),
        x(x_),
        gy(gy_),
        gw(gw_),
        rows(shape.k),
        cols(shape.crs),
        depth(shape.n * shape.pq) {}

  KILN_HOST_DEVICE T load_a(int m, int kk) const {
    const int n = kk / d.pq;
    return gy[(static_cast<std::int64_t>(n) * d.k + m) * d.pq + (kk - n * d.pq)];
  }
  KILN_HOST_DEVICE T load_b(int kk, int col) const {
    const int n = kk / d.pq, c = col / d.rs;
    return gather_input(d, x, n, kk - n * d.pq, c, col - c * d.rs);
  }
  KILN_HOST_DEVICE void store(int m, int col, T v) const {
    gw[static_cast<std::int64_t>(m) * d.crs + col] = v;
  }
};

// A plain product of row-major matrices: c (M,N) = op(a) @ op(b), with a stored (M,K), or (K,M)
// when trans_a; b stored (K,N), or (N,K) when trans_b (kernels/gemm.h).
template <typename T>
struct MatrixProductProblem {
  const T* a;
  const T* b;
  T* c;                   // (M, N)
  int rows, cols, depth;  // M, N, K
  bool trans_a, trans_b;

  KILN_HOST_DEVICE T load_a(int m, int kk) const {
    return trans_a ? a[static_cast<std::int64_t>(kk) * rows + m]
                   : a[static_cast<std::int64_t>(m) * depth + kk];
  }
  KILN_HOST_DEVICE T load_b(int kk, int n) const {
    return trans_b ? b[static_cast<std::int64_t>(n) * depth + kk]
                   : b[static_cast<std::int64_t>(kk) * cols + n];
  }
  KILN_HOST_DEVICE void store(int m, int n, T v) const {
    c[static_cast<std::int64_t>(m) * cols + n] = v;
  }
};

// How the CUDA kernels cover a problem: block tiles of tile x tile outputs, and depth cut into
// `splits` consecutive slices of k_per_split (the last one shorter), one grid layer each. Plain
// host arithmetic, kept here so the CPU test can check the slices cover depth exactly once.
struct GemmTiling {
  int tile;         // 128 or 64: block tile edge (rows and cols)
  int splits;       // >= 1
  int k_per_split;  // a multiple of kGemmDepthQuantum
};

// Every kernel's depth step (8 for FP32, 16 for TF32) divides this, so a slice boundary never
// falls inside a step and no element is summed by two slices.
constexpr int kGemmDepthQuantum = 16;

// The choice depends only on the problem's sizes, never on the device, so the summation order (and
// so the result's bits) is the same on every GPU.
inline GemmTiling plan_gemm_tiling(int rows, int cols, int depth) {
  // 128x128 tiles do twice the math per shared-memory read of 64x64 ones, but waste most of a
  // block when a side is small (VGG's first layers have 64 channels).
  const int tile = rows >= 128 && cols >= 128 ? 128 : 64;
  const std::int64_t blocks =
      static_cast<std::int64_t>((rows + tile - 1) / tile) * ((cols + tile - 1) / tile);
  // Aim for ~256 blocks (two waves of 132 SMs), with slices of at least 128 depth so the partial
  // sums' extra traffic (splits * rows * cols floats written and read back) stays small.
  constexpr std::int64_t kTargetBlocks = 256, kMinQuantaPerSplit = 8, kMaxSplits = 64;
  const std::int64_t quanta = (depth + kGemmDepthQuantum - 1) / kGemmDepthQuantum;
  std::int64_t splits = 1;
  if (blocks > 0 && blocks < kTargetBlocks) {
    splits =
        std::min({(kTargetBlocks + blocks - 1) / blocks, quanta / kMinQuantaPerSplit, kMaxSplits});
    splits = std::max<std::int64_t>(splits, 1);
  }
  const std::int64_t per_split = std::max<std::int64_t>((quanta + splits - 1) / splits, 1);
  splits = std::max<std::int64_t>((quanta + per_split - 1) / per_split, 1);  // no empty slice
  return GemmTiling{tile, static_cast<int>(splits),
                    static_cast<int>(per_split * kGemmDepthQuantum)};
}

}  // namespace kiln::kernels
