// Optimiser updates on the GPU, in place: the twins of kernels/cpu/optim.cpp. The kernels, the
// multi-tensor table and the launches are in optim_kernels.cuh (run on the CPU by the emulated
// tests); this file checks arguments and keeps the multi-tensor table in device memory, uploaded
// only when its contents change (an optimiser passes the same tensors every step, so after the
// first step no upload happens at all).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/optim_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/device_memory.h"
#include "kernels/optim.h"

namespace kiln::kernels::cuda {
namespace {

using detail::AdamTableEntry;
using detail::StreamLaunch;

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
  detail::queue_adam_update(StreamLaunch{stream()}, n, s, grad, m, v, param);
}

void sgd_update(std::int64_t n, const SgdScalars& s, const float* grad, float* buf, float* param) {
  KILN_CHECK(n >= 0, "sgd_update: n must be non-negative, got ", n);
  KILN_CHECK(buf || s.momentum == 0.0, "sgd_update: momentum ", s.momentum, " needs a buffer");
  if (n == 0) return;
  detail::queue_sgd_update(StreamLaunch{stream()}, n, s, grad, buf, param);
}

void adam_update_multi(const AdamTensor* tensors, std::int64_t count, const AdamScalars& s) {
  KILN_CHECK(count >= 0 && count <= 0x7fffffff, "adam_update_multi: bad tensor count ", count);
  KILN_CHECK(count == 0 || tensors != nullptr, "adam_update_multi: ", count,
             " tensors but no table");
  for (std::int64_t i = 0; i < count; ++i)
    KILN_CHECK(tensors[i].n >= 0, "adam_update_multi: tensor ", i, " has ", tensors[i].n,
               " elements");
  std::int64_t chunks = 0;
  const std::vector<AdamTableEntry> table = detail::make_adam_table(tensors, count, &chunks);
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
  detail::queue_adam_update_multi(StreamLaunch{st}, cache->device, static_cast<int>(table.size()),
                                  chunks, s);
}

}  // namespace kiln::kernels::cuda
