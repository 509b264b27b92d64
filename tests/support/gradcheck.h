// The one generic gradient checker (Caffe's recipe): central differences in float64 against the
// analytic gradients from backward(), for every listed tensor, inputs and parameters alike.
//
//  - The loss function must be deterministic: reseed any generator inside it (dropout).
//  - Tolerance scales with the gradient's size: |a - n| <= tol * max(|a|, |n|, 1).
//  - Kinks (relu at 0, max-pool ties) are detected, not special-cased per op: when the two
//    one-sided differences disagree by far more than a smooth function allows, the point
//    straddles a kink and is skipped. Too many skipped points fail the check.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace kiln::test {

struct GradcheckOptions {
  double eps = 1e-6;                  // finite-difference step
  double tol = 1e-5;                  // relative tolerance, see above
  std::int64_t max_points = 256;      // per tensor; larger tensors are sampled at random points
  double max_skipped_fraction = 0.2;  // kinks allowed before the check fails
  std::uint64_t seed = 7;             // which points are sampled
};

struct GradcheckResult {
  bool ok = true;
  std::int64_t checked = 0, skipped = 0;
  std::string report;  // the worst mismatches, naming tensor index and element
};

// loss_fn returns a one-element float64 tensor computed from `wrt` (float64 leaves that
// require gradients; the checker perturbs their data in place and restores it).
GradcheckResult gradcheck(const std::function<Tensor()>& loss_fn, const std::vector<Tensor>& wrt,
                          const GradcheckOptions& options = {});

// sum(y * r) for a fixed random r drawn from `seed`: a scalar whose gradient reaches every
// element of y with a different weight, so no error can cancel out.
Tensor projection_loss(const Tensor& y, std::uint64_t seed = 99);

}  // namespace kiln::test

// Usage: EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(relu(x)); }, {x}));
#define EXPECT_GRADCHECK(result_expr)                          \
  do {                                                         \
    const ::kiln::test::GradcheckResult _gc = (result_expr);   \
    EXPECT_TRUE(_gc.ok) << _gc.report;                         \
    EXPECT_GT(_gc.checked, 0) << "gradcheck checked no point"; \
  } while (0)
