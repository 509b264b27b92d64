// The gradient recipe of every layer test on every device (tests/support/devices.h):
// - on CpuReference, the float64 finite-difference check of gradcheck_layer;
// - on CpuFast and Cuda, the layer in float32 on that device against the same layer, with the same
//   parameters, on the CPU reference in float64: output, input gradient and each trainable
//   parameter's gradient, within a float32 tolerance.
// `make` builds the layer the same way each time (a fixed seed), so both copies start equal;
// `before_forward`, when given, runs on a layer before each of its evaluations (dropout reseeds its
// generator there, so every evaluation draws the same mask).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/functions.h"
#include "core/random.h"
#include "layers/module.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/support/devices.h"

namespace kiln::test {

// |a - b| <= tol * (1 + |b|) elementwise, with the first difference named.
inline ::testing::AssertionResult close_relative(const std::vector<double>& a,
                                                 const std::vector<double>& b, double tol,
                                                 const std::string& what) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure()
           << what << ": " << a.size() << " values against the reference's " << b.size();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(a[i] - b[i]) <= tol * (1 + std::abs(b[i])))) {
      return ::testing::AssertionFailure()
             << what << "[" << i << "] = " << a[i] << ", the reference's " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// The layer's output, input gradient and parameter gradients for input x, under the loss
// sum(y * r) with r drawn in float64 on the host (so every device sees the same r).
struct LayerPass {
  std::vector<double> y, gx;
  std::vector<std::vector<double>> gparams;
};
inline LayerPass run_layer(Module& layer, const Tensor& x_in, std::uint64_t seed) {
  Tensor x = x_in.detach();
  x.set_requires_grad(true);
  const Tensor y = layer(x);
  Generator gen(seed);
  const Tensor r =
      Tensor::uniform(y.shape(), -1.0, 1.0, gen, DType::Float64).to(y.dtype()).to(y.device());
  sum(mul(y, r)).backward();
  LayerPass out{
      y.to(Device::CPU).to_double_vector(), x.grad().to(Device::CPU).to_double_vector(), {}};
  for (const Tensor& p : layer.trainable_parameters()) {
    out.gparams.push_back(p.grad().to(Device::CPU).to_double_vector());
  }
  return out;
}

template <typename D>
void expect_layer_gradients_on(const std::function<std::shared_ptr<Module>()>& make,
                               const Shape& shape, double tol = 1e-4,
                               const std::function<void(Module&)>& before_forward = {}) {
  if constexpr (std::is_same_v<D, CpuReference>) {
    std::shared_ptr<Module> layer = make();
    std::function<void()> reseed;
    if (before_forward) reseed = [&] { before_forward(*layer); };
    EXPECT_GRADCHECK(gradcheck_layer(*layer, shape, reseed));
  } else {
    std::shared_ptr<Module> reference = make();
    reference->to(DType::Float64);
    std::shared_ptr<Module> layer = make();
    layer->to(D::kDType);
    layer->to(D::kDevice);
    Generator gen(7);
    const Tensor x = Tensor::uniform(shape, -1.0, 1.0, gen, DType::Float64);
    if (before_forward) before_forward(*reference);
    const LayerPass want = run_layer(*reference, x, 11);
    if (before_forward) before_forward(*layer);
    const LayerPass got = run_layer(*layer, x.to(D::kDType).to(D::kDevice), 11);
    EXPECT_TRUE(close_relative(got.y, want.y, tol, "output"));
    EXPECT_TRUE(close_relative(got.gx, want.gx, tol, "input gradient"));
    std::vector<std::string> names;  // of the trainable parameters, in their order
    for (const auto& [name, p] : layer->named_parameters()) {
      if (p.requires_grad()) names.push_back(name);
    }
    ASSERT_EQ(got.gparams.size(), want.gparams.size());
    ASSERT_EQ(got.gparams.size(), names.size());
    for (std::size_t i = 0; i < got.gparams.size(); ++i) {
      EXPECT_TRUE(close_relative(got.gparams[i], want.gparams[i], tol, names[i] + " gradient"));
    }
  }
}

}  // namespace kiln::test
