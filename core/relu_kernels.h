// The ReLU's kernel calls, written once (core/elementwise.cpp) for relu() and for conv2d's fused
// ReLU (core/conv.cpp).
#pragma once

#include "core/tensor.h"

namespace kiln::detail {

// y = max(x, 0), NaN kept; y may be x (in place: kernels/elementwise.h allows the alias). `op`
// names the caller in errors.
void relu_forward(const char* op, const Tensor& x, Tensor& y);
// gy where y > 0, else 0: the gradient before a ReLU whose output was y.
Tensor relu_backward(const char* op, const Tensor& y, const Tensor& gy);

}  // namespace kiln::detail
