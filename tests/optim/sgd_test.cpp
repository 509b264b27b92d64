// SGD against updates worked out by hand (PyTorch's momentum form, see kernels/optim.h):
//   theta -= lr * wd * theta; buf = momentum * buf + g;
//   theta -= lr * (nesterov ? g + momentum * buf : buf)     (buf = g without momentum)
// Common settings: theta0 = 1, lr = 0.1, gradients 0.5, -0.25, 1.0; float64.
#include "optim/sgd.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

constexpr double kTol = 1e-12;

std::vector<double> three_steps(const SgdOptions& options, DType dtype = DType::Float64) {
  Tensor theta = Tensor::full(Shape{1}, 1.0, dtype);
  theta.set_requires_grad(true);
  Sgd sgd({theta}, options);
  std::vector<double> after;
  for (double g : {0.5, -0.25, 1.0}) {
    theta.set_grad(Tensor::full(Shape{1}, g, dtype));
    sgd.step();
    after.push_back(theta.item());
  }
  return after;
}

SgdOptions options(double momentum, bool nesterov, double weight_decay = 0) {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = momentum;
  o.nesterov = nesterov;
  o.weight_decay = weight_decay;
  return o;
}

TEST(Sgd, PlainByHand) {
  // 1 - 0.1 * 0.5 = 0.95; 0.95 + 0.1 * 0.25 = 0.975; 0.975 - 0.1 * 1.0 = 0.875.
  const std::vector<double> theta = three_steps(options(0, false));
  EXPECT_NEAR(theta[0], 0.95, kTol);
  EXPECT_NEAR(theta[1], 0.975, kTol);
  EXPECT_NEAR(theta[2], 0.875, kTol);
}

TEST(Sgd, MomentumByHand) {
  // buf = 0.5;                    theta = 1 - 0.1 * 0.5 = 0.95
  // buf = 0.9 * 0.5 - 0.25 = 0.2; theta = 0.95 - 0.1 * 0.2 = 0.93
  // buf = 0.9 * 0.2 + 1 = 1.18;   theta = 0.93 - 0.1 * 1.18 = 0.812
  const std::vector<double> theta = three_steps(options(0.9, false));
  EXPECT_NEAR(theta[0], 0.95, kTol);
  EXPECT_NEAR(theta[1], 0.93, kTol);
  EXPECT_NEAR(theta[2], 0.812, kTol);
}

TEST(Sgd, NesterovByHand) {
  // Same buffers as above; the step looks ahead: g + 0.9 * buf.
  // theta = 1 - 0.1 * (0.5 + 0.45) = 0.905
  // theta = 0.905 - 0.1 * (-0.25 + 0.18) = 0.912
  // theta = 0.912 - 0.1 * (1 + 1.062) = 0.7058
  const std::vector<double> theta = three_steps(options(0.9, true));
  EXPECT_NEAR(theta[0], 0.905, kTol);
  EXPECT_NEAR(theta[1], 0.912, kTol);
  EXPECT_NEAR(theta[2], 0.7058, kTol);
}

TEST(Sgd, DecoupledWeightDecayByHand) {
  // weight_decay 0.5: theta shrinks by lr * wd = 5% before each plain step.
  // 1 * 0.95 - 0.05 = 0.9; 0.9 * 0.95 + 0.025 = 0.88; 0.88 * 0.95 - 0.1 = 0.736.
  const std::vector<double> theta = three_steps(options(0, false, 0.5));
  EXPECT_NEAR(theta[0], 0.9, kTol);
  EXPECT_NEAR(theta[1], 0.88, kTol);
  EXPECT_NEAR(theta[2], 0.736, kTol);
}

TEST(Sgd, Float32AgreesWithFloat64) {
  for (const SgdOptions& o : {options(0, false), options(0.9, false), options(0.9, true, 0.5)}) {
    const std::vector<double> a = three_steps(o, DType::Float64);
    const std::vector<double> b = three_steps(o, DType::Float32);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-6);
  }
}

TEST(Sgd, MomentumBufferIsExposed) {
  Tensor theta = Tensor::full(Shape{1}, 1.0, DType::Float64);
  theta.set_requires_grad(true);
  Sgd sgd({theta}, options(0.9, false));
  EXPECT_FALSE(sgd.momentum_buffer(0).defined());
  for (double g : {0.5, -0.25}) {
    theta.set_grad(Tensor::full(Shape{1}, g, DType::Float64));
    sgd.step();
  }
  EXPECT_NEAR(sgd.momentum_buffer(0).item(), 0.2, kTol);
  Sgd plain({theta}, options(0, false));
  plain.step();
  EXPECT_FALSE(plain.momentum_buffer(0).defined());  // no buffer without momentum
}

TEST(Sgd, RejectsBadOptions) {
  Tensor theta = Tensor::zeros(Shape{1});
  theta.set_requires_grad(true);
  EXPECT_THROW(Sgd({theta}, options(0, true)), Error);  // Nesterov without momentum
  EXPECT_THROW(Sgd({theta}, options(-0.1, false)), Error);
}

TEST(Sgd, DefaultsArePlainSgd) {
  const SgdOptions o;
  EXPECT_EQ(o.lr, 0.01);
  EXPECT_EQ(o.momentum, 0.0);
  EXPECT_FALSE(o.nesterov);
  EXPECT_EQ(o.weight_decay, 0.0);
}

}  // namespace
}  // namespace kiln
