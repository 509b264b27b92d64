#include "kernels/host_cache.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace kiln::kernels::host_cache {
namespace {

constexpr std::size_t kAlignment = 64;  // a cache line, and what AVX-512 loads and oneDNN prefer
constexpr std::size_t kPage = 4096;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kEnabled = false;
#else
constexpr bool kEnabled = true;
#endif
#else
constexpr bool kEnabled = true;
#endif

// The size a block of `bytes` really has: whole cache lines, and whole pages once it is cached.
std::size_t block_size(std::size_t bytes) {
  const std::size_t unit = bytes >= kMinBytes ? kPage : kAlignment;
  return (bytes + unit - 1) / unit * unit;
}

struct Cache {
  std::mutex mutex;
  std::multimap<std::size_t, void*> free_blocks;  // by block size
  std::size_t cached_bytes = 0;
  Stats stats;

  // Never destroyed: tensors in static objects may be freed after any static destructor ran.
  // Its blocks stay reachable from here, so LeakSanitizer does not report them.
  static Cache& instance() {
    static Cache* cache = new Cache;
    return *cache;
  }
};

void trim_locked(Cache& c) {
  for (auto& [size, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  c.cached_bytes = 0;
}

}  // namespace

bool enabled() { return kEnabled; }

void* allocate(std::size_t bytes) {
  const std::size_t size = block_size(bytes);
  if (kEnabled && size >= kMinBytes) {
    Cache& c = Cache::instance();
    const std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end()) {
      void* p = it->second;
      c.free_blocks.erase(it);
      c.cached_bytes -= size;
      ++c.stats.hits;
      return p;
    }
    ++c.stats.misses;
    if (void* p = std::aligned_alloc(kAlignment, size)) return p;
    trim_locked(c);  // out of memory: give the cache back and try once more (as ATen does)
    return std::aligned_alloc(kAlignment, size);
  }
  return std::aligned_alloc(kAlignment, size);
}

void release(void* p, std::size_t bytes) {
  if (!p) return;
  const std::size_t size = block_size(bytes);
  if (kEnabled && size >= kMinBytes) {
    Cache& c = Cache::instance();
    const std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached_bytes + size <= kCapBytes) {
      c.free_blocks.emplace(size, p);
      c.cached_bytes += size;
      return;
    }
  }
  std::free(p);
}

void trim() {
  Cache& c = Cache::instance();
  const std::lock_guard<std::mutex> lock(c.mutex);
  trim_locked(c);
}

Stats stats() {
  Cache& c = Cache::instance();
  const std::lock_guard<std::mutex> lock(c.mutex);
  Stats s = c.stats;
  s.cached_bytes = static_cast<std::int64_t>(c.cached_bytes);
  return s;
}

}  // namespace kiln::kernels::host_cache
