// The naive evaluation of an implicit-GEMM problem (kernels/implicit_gemm.h): each C[m][n] summed
// straight from the problem's load_a / load_b in double, one (m, n) at a time, and stored through
// the problem. Depth is summed in the split-K slices that plan_gemm_tiling cuts, in the order
// splitk_reduce_kernel adds them. The reference of implicit_gemm_test.cpp (the problems against the
// reference convolutions) and of implicit_gemm_emulated_test.cpp (the tiled kernels against the
// problems).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "kernels/implicit_gemm.h"

namespace kiln::test {

// Also checks the plan's slices: each a multiple of the depth quantum, covering depth exactly once.
template <class Problem>
void evaluate_naively(const Problem& p) {
  const kernels::GemmTiling tiling = kernels::plan_gemm_tiling(p.rows, p.cols, p.depth);
  ASSERT_GE(tiling.splits, 1);
  ASSERT_GE(static_cast<std::int64_t>(tiling.splits) * tiling.k_per_split, p.depth);
  ASSERT_LT(static_cast<std::int64_t>(tiling.splits - 1) * tiling.k_per_split,
            std::max(p.depth, 1));  // no empty slice
  for (int m = 0; m < p.rows; ++m) {
    for (int n = 0; n < p.cols; ++n) {
      double sum = 0;
      for (int z = 0; z < tiling.splits; ++z) {
        double slice = 0;
        const int end = std::min(p.depth, (z + 1) * tiling.k_per_split);
        for (int kk = z * tiling.k_per_split; kk < end; ++kk)
          slice += static_cast<double>(p.load_a(m, kk)) * p.load_b(kk, n);
        sum += slice;
      }
      p.store(m, n, sum);
    }
  }
}

}  // namespace kiln::test
