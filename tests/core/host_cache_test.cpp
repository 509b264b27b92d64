// The host block cache behind CPU tensors (kernels/host_cache.h): freed blocks come back for the
// next request of their size, small ones are left to malloc, and the cap holds.
#include "kernels/host_cache.h"

#include <gtest/gtest.h>

#include "core/tensor.h"

namespace kiln {
namespace {

#define KILN_REQUIRE_HOST_CACHE()                                 \
  if (!kernels::host_cache::enabled())                            \
  GTEST_SKIP() << "the host cache is off under AddressSanitizer " \
                  "(so that a use after free is still reported)"

TEST(HostCache, AFreedTensorsBlockServesTheNextTensorOfItsSize) {
  KILN_REQUIRE_HOST_CACHE();
  kernels::host_cache::trim();
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({64, 64, 32, 32});  // 16 MiB: one VGG block-1 activation
    first = t.raw_data();
  }
  EXPECT_EQ(kernels::host_cache::stats().cached_bytes, 16 << 20);
  const kernels::host_cache::Stats before = kernels::host_cache::stats();
  Tensor again = Tensor::empty({64, 64, 32, 32});
  EXPECT_EQ(again.raw_data(), first);
  EXPECT_EQ(kernels::host_cache::stats().hits, before.hits + 1);
  EXPECT_EQ(kernels::host_cache::stats().cached_bytes, 0);
  // A different size does not take it (blocks are reused for their exact rounded size only).
  Tensor other = Tensor::empty({64, 64, 32, 16});
  EXPECT_NE(other.raw_data(), first);
}

TEST(HostCache, SmallBlocksAreNotCached) {
  KILN_REQUIRE_HOST_CACHE();
  kernels::host_cache::trim();
  { Tensor small = Tensor::empty({100}); }
  EXPECT_EQ(kernels::host_cache::stats().cached_bytes, 0);
}

TEST(HostCache, HoldsNoMoreThanItsCapAndTrimEmptiesIt) {
  KILN_REQUIRE_HOST_CACHE();
  kernels::host_cache::trim();
  // Untouched, so these cost address space only.
  void* big = kernels::host_cache::allocate(kernels::host_cache::kCapBytes);
  void* more = kernels::host_cache::allocate(kernels::host_cache::kMinBytes);
  ASSERT_NE(big, nullptr);
  ASSERT_NE(more, nullptr);
  kernels::host_cache::release(big, kernels::host_cache::kCapBytes);
  EXPECT_EQ(kernels::host_cache::stats().cached_bytes,
            static_cast<std::int64_t>(kernels::host_cache::kCapBytes));
  kernels::host_cache::release(more,
                               kernels::host_cache::kMinBytes);  // over the cap: back to the system
  EXPECT_EQ(kernels::host_cache::stats().cached_bytes,
            static_cast<std::int64_t>(kernels::host_cache::kCapBytes));
  kernels::host_cache::trim();
  EXPECT_EQ(kernels::host_cache::stats().cached_bytes, 0);
}

TEST(HostCache, BlocksAreAlignedForVectorLoads) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{100}, kernels::host_cache::kMinBytes + 1}) {
    void* p = kernels::host_cache::allocate(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u) << bytes << " bytes";
    kernels::host_cache::release(p, bytes);
  }
}

}  // namespace
}  // namespace kiln
