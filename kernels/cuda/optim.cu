// Optimiser updates on the GPU, in place: the twins of kernels/cpu/optim.cpp.
//
// Every operation is spelled with an __f*_rn intrinsic so nvcc cannot contract a multiply and an
// add into an FMA (it would, by default, in `m += (g - m) * c`): the CPU rounds each operation
// separately, and with the same operations in the same order the GPU gives the CPU's bits. sqrt
// and division are IEEE-rounded on both (no fast-math here).
//
// adam_update_multi: one launch over many tensors. The host builds a table of (tensor, first
// chunk) entries, each tensor cut into chunks of kChunk elements; the table lives in device memory
// and is re-uploaded only when its contents change (an optimiser passes the same tensors every
// step, so after the first step no upload happens at all). Each block takes a chunk id (grid-
// stride over all chunks), finds its tensor by binary search over first_chunk, and updates that
// chunk with a block-stride loop. Elements are independent, so the result does not depend on the
// grid, and equals per-tensor adam_update bit for bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device_memory.h"
#include "kernels/optim.h"

namespace kiln::kernels::cuda {
namespace {

using detail::blocks_for;
using detail::grid_start;
using detail::grid_stride;
using detail::kThreads;

// The float scalars the CPU derives from AdamScalars, derived the same way.
struct AdamCoefficients {
  float one_minus_b1, one_minus_b2, step, eps, decay;
};

AdamCoefficients adam_coefficients(const AdamScalars& s) {
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

constexpr std::int64_t kChunk = 1 << 14;  // elements per (tensor, chunk) work item: 64 a thread

struct AdamTableEntry {
  std::int64_t n;            // elements of this tensor (> 0)
  std::int64_t first_chunk;  // global id of its first chunk; its chunks are contiguous ids
  const float* grad;         // (n) device pointers, as in AdamTensor
  float* m;
  float* v;
  float* param;
};

bool operator==(const AdamTableEntry& a, const AdamTableEntry& b) {
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
    const std::int64_t begin = (chunk - t.first_chunk) * kChunk;
    const std::int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      float mi = t.m[i], vi = t.v[i], pi = t.param[i];
      adam_element(c, t.grad[i], mi, vi, pi);
      t.m[i] = mi;
      t.v[i] = vi;
      t.param[i] = pi;
    }
  }
}

// The device copy of the last table, and the host copy it was uploaded from. Grow-only and never
// freed (like the runtime's contexts: a static destructor may run after the CUDA runtime is gone).
// NOTE: a freed smaller table goes back to the caching allocator while kernels queued earlier may
// still read it; that is safe because all of Kiln's work is ordered on one stream (runtime.h).
struct AdamTableCache {
  std::mutex mutex;  // guards the members while a call uploads and launches
  AdamTableEntry* device = nullptr;
  std::size_t capacity = 0;              // entries
  std::vector<AdamTableEntry> uploaded;  // what `device` holds
};

}  // namespace

void adam_update(std::int64_t n, const AdamScalars& s, const float* grad, float* m, float* v,
                 float* param) {
  KILN_CHECK(n >= 0, "adam_update: n must be non-negative, got ", n);
  if (n == 0) return;
  adam_update_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, adam_coefficients(s), grad, m, v,
                                                               param);
  KILN_LAUNCH_CHECK();
}

void sgd_update(std::int64_t n, const SgdScalars& s, const float* grad, float* buf, float* param) {
  KILN_CHECK(n >= 0, "sgd_update: n must be non-negative, got ", n);
  KILN_CHECK(buf || s.momentum == 0.0, "sgd_update: momentum ", s.momentum, " needs a buffer");
  if (n == 0) return;
  sgd_update_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(
      n, static_cast<float>(s.lr), static_cast<float>(s.momentum), static_cast<float>(s.decay),
      s.nesterov, grad, buf, param);
  KILN_LAUNCH_CHECK();
}

void adam_update_multi(const AdamTensor* tensors, std::int64_t count, const AdamScalars& s) {
  KILN_CHECK(count >= 0 && count <= 0x7fffffff, "adam_update_multi: bad tensor count ", count);
  KILN_CHECK(count == 0 || tensors != nullptr, "adam_update_multi: ", count,
             " tensors but no table");
  std::vector<AdamTableEntry> table;
  table.reserve(static_cast<std::size_t>(count));
  std::int64_t chunks = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    const AdamTensor& t = tensors[i];
    KILN_CHECK(t.n >= 0, "adam_update_multi: tensor ", i, " has ", t.n, " elements");
    if (t.n == 0) continue;  // owns no chunk; leaving it out keeps first_chunk strictly rising
    table.push_back(AdamTableEntry{t.n, chunks, t.grad, t.m, t.v, t.param});
    chunks += (t.n + kChunk - 1) / kChunk;
  }
  if (table.empty()) return;

  static AdamTableCache* const cache = new AdamTableCache;  // leaked on purpose (see above)
  const std::lock_guard<std::mutex> lock(cache->mutex);
  const cudaStream_t st = stream();
  if (table.size() > cache->capacity) {
    const std::size_t grown = std::max(table.size(), 2 * cache->capacity);  // amortised growth
    free(cache->device);
    cache->device = nullptr;
    cache->capacity = 0;
    cache->uploaded.clear();
    cache->device = static_cast<AdamTableEntry*>(allocate(sizeof(AdamTableEntry) * grown));
    cache->capacity = grown;
  }
  if (table != cache->uploaded) {
    // Ordered on the stream after every earlier launch that read the old table. NOTE: from
    // pageable memory the driver stages the source before returning.
    cache->uploaded.clear();  // if the copy throws, the device contents are unknown
    CUDA_CHECK(cudaMemcpyAsync(cache->device, table.data(), sizeof(AdamTableEntry) * table.size(),
                               cudaMemcpyHostToDevice, st));
    cache->uploaded = table;
  }
  adam_update_multi_kernel<<<blocks_for(chunks * kThreads), kThreads, 0, st>>>(
      cache->device, static_cast<int>(table.size()), chunks, adam_coefficients(s));
  KILN_LAUNCH_CHECK();
}

}  // namespace kiln::kernels::cuda
