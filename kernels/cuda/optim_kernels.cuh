// Optimiser updates, in place (device code, device_code.h): the twins of kernels/cpu/optim.cpp,
// with the queue_* functions that launch them (launch.h) and the multi-tensor table they read,
// used by kernels/cuda/optim.cu and tests/kernels/loss_optim_emulated_test.cpp.
//
// Every operation is spelled with an __f*_rn intrinsic so nvcc cannot contract a multiply and an
// add into an FMA (it would, by default, in `m += (g - m) * c`): the CPU rounds each operation
// separately, and with the same operations in the same order the GPU gives the CPU's bits. sqrt
// and division are IEEE-rounded on both (no fast-math here).
//
// adam_update_multi: one launch over many tensors. The host builds a table of (tensor, first
// chunk) entries (make_adam_table), each tensor cut into chunks of kAdamChunk elements; optim.cu
// keeps the table in device memory. Each block takes a chunk id (grid-stride over all chunks),
// finds its tensor by binary search over first_chunk, and updates that chunk with a block-stride
// loop. Elements are independent, so the result does not depend on the grid, and equals
// per-tensor adam_update bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/device_code.h"
#include "kernels/cuda/launch.h"
#include "kernels/optim.h"

namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE {

// The float scalars the CPU derives from AdamScalars, derived the same way.
struct AdamCoefficients {
  float one_minus_b1, one_minus_b2, step, eps, decay;
};

inline AdamCoefficients adam_coefficients(const AdamScalars& s) {
  return AdamCoefficients{1.f - static_cast<float>(s.beta1), 1.f - static_cast<float>(s.beta2),
                          static_cast<float>(s.step_size), static_cast<float>(s.eps_hat),
                          static_cast<float>(s.decay)};
}

// One element, in the CPU's order: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
// param -= decay * param; param -= step * m / (sqrt(v) + eps).
__device__ inline void adam_element(const AdamCoefficients& c, float g, float& m, float& v,
                                    float& param) {
  m = __fadd_rn(m, __fmul_rn(__fsub_rn(g, m), c.one_minus_b1));
  v = __fadd_rn(v, __fmul_rn(__fsub_rn(__fmul_rn(g, g), v), c.one_minus_b2));
  param = __fsub_rn(param, __fmul_rn(c.decay, param));
  param = __fsub_rn(param, __fdiv_rn(__fmul_rn(c.step, m), __fadd_rn(__fsqrt_rn(v), c.eps)));
}

__global__ void adam_update_kernel(std::int64_t n, AdamCoefficients c, const float* grad, float* m,
                                   float* v, float* param) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) {
    float mi = m[i], vi = v[i], pi = param[i];
    adam_element(c, grad[i], mi, vi, pi);
    m[i] = mi;
    v[i] = vi;
    param[i] = pi;
  }
}

// SGD with momentum, the CPU's order: param -= decay * param; buf = mom * buf + g;
// param -= lr * (nesterov ? g + mom * buf : buf). Without a buffer: param -= lr * g.
__global__ void sgd_update_kernel(std::int64_t n, float lr, float mom, float decay, bool nesterov,
                                  const float* grad, float* buf, float* param) {
  for (std::int64_t i = grid_start(); i < n; i += grid_stride()) {
    const float g = grad[i];
    float p = __fsub_rn(param[i], __fmul_rn(decay, param[i]));
    if (buf == nullptr) {
      p = __fsub_rn(p, __fmul_rn(lr, g));
    } else {
      const float b = __fadd_rn(__fmul_rn(mom, buf[i]), g);
      buf[i] = b;
      p = __fsub_rn(p, __fmul_rn(lr, nesterov ? __fadd_rn(g, __fmul_rn(mom, b)) : b));
    }
    param[i] = p;
  }
}

// ---------------------------------------------------------------------------------------------
// Multi-tensor Adam.

constexpr std::int64_t kAdamChunk = 1 << 14;  // elements per (tensor, chunk) work item: 64 a thread

struct AdamTableEntry {
  std::int64_t n;            // elements of this tensor (> 0)
  std::int64_t first_chunk;  // global id of its first chunk; its chunks are contiguous ids
  const float* grad;         // (n) device pointers, as in AdamTensor
  float* m;
  float* v;
  float* param;
};

inline bool operator==(const AdamTableEntry& a, const AdamTableEntry& b) {
  return a.n == b.n && a.first_chunk == b.first_chunk && a.grad == b.grad && a.m == b.m &&
         a.v == b.v && a.param == b.param;
}

__global__ void adam_update_multi_kernel(const AdamTableEntry* table, int count,
                                         std::int64_t chunks, AdamCoefficients c) {
  for (std::int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    // The last entry whose first chunk is <= chunk (uniform across the block).
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (table[mid].first_chunk <= chunk)
        lo = mid;
      else
        hi = mid - 1;
    }
    const AdamTableEntry& t = table[lo];
    const std::int64_t begin = (chunk - t.first_chunk) * kAdamChunk;
    const std::int64_t end = begin + kAdamChunk < t.n ? begin + kAdamChunk : t.n;
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      float mi = t.m[i], vi = t.v[i], pi = t.param[i];
      adam_element(c, t.grad[i], mi, vi, pi);
      t.m[i] = mi;
      t.v[i] = vi;
      t.param[i] = pi;
    }
  }
}

// The table for tensors[0, count) (sizes checked non-negative by the caller): empty tensors own
// no chunk and are left out, which keeps first_chunk strictly rising. *chunks is the total.
inline std::vector<AdamTableEntry> make_adam_table(const AdamTensor* tensors, std::int64_t count,
                                                   std::int64_t* chunks) {
  std::vector<AdamTableEntry> table;
  table.reserve(static_cast<std::size_t>(count));
  *chunks = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    const AdamTensor& t = tensors[i];
    if (t.n == 0) continue;
    table.push_back(AdamTableEntry{t.n, *chunks, t.grad, t.m, t.v, t.param});
    *chunks += (t.n + kAdamChunk - 1) / kAdamChunk;
  }
  return table;
}

// Launches, for n > 0.

template <class Launch>
void queue_adam_update(const Launch& launch, std::int64_t n, const AdamScalars& s,
                       const float* grad, float* m, float* v, float* param) {
  launch(grid_stride_shape(launch, n), adam_update_kernel, n, adam_coefficients(s), grad, m, v,
         param);
}

// buf may be null only when s.momentum == 0 (the caller checks).
template <class Launch>
void queue_sgd_update(const Launch& launch, std::int64_t n, const SgdScalars& s, const float* grad,
                      float* buf, float* param) {
  launch(grid_stride_shape(launch, n), sgd_update_kernel, n, static_cast<float>(s.lr),
         static_cast<float>(s.momentum), static_cast<float>(s.decay), s.nesterov, grad, buf, param);
}

// `table` (count > 0 entries, device memory) from make_adam_table, with its `chunks`: one block
// per chunk of kThreads threads, grid-stride over chunks beyond the cap.
template <class Launch>
void queue_adam_update_multi(const Launch& launch, const AdamTableEntry* table, int count,
                             std::int64_t chunks, const AdamScalars& s) {
  launch(grid_stride_shape(launch, chunks * kThreads), adam_update_multi_kernel, table, count,
         chunks, adam_coefficients(s));
}

}  // namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE
