// A cache of freed host blocks, so that a training step's tensors reuse the memory the previous
// step freed instead of asking the kernel for fresh pages. glibc hands large blocks back to the
// kernel on free (munmap, or a trimmed heap), so every step's activations and gradients would
// otherwise page-fault and be zeroed again: in VGG16's CPU training step that was 7-15% of the
// time, in the kernel (perf: clear_page_erms, exc_page_fault).
//
// Only blocks of at least kMinBytes are cached (glibc serves small ones from its heap without
// faults); sizes are rounded up to whole pages so that near-equal sizes share blocks; a block is
// reused only for a request of its exact rounded size. At most kCapBytes are held; past that a
// freed block goes back to the system. Under AddressSanitizer the cache is off, so that a use
// after free still lands in freed memory and is reported.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::kernels::host_cache {

constexpr std::size_t kMinBytes = std::size_t{64} << 10;
constexpr std::size_t kCapBytes = std::size_t{1} << 30;

// 64-byte aligned, at least `bytes`; nullptr when the system has no memory even after the cache
// was emptied.
void* allocate(std::size_t bytes);
// Takes back a block from allocate() of the same `bytes`.
void release(void* p, std::size_t bytes);
// Gives every cached block back to the system.
void trim();

struct Stats {
  std::int64_t hits = 0, misses = 0;  // allocations served from the cache / by the system
  std::int64_t cached_bytes = 0;      // held now, free for reuse
};
Stats stats();
bool enabled();  // false under AddressSanitizer

}  // namespace kiln::kernels::host_cache
