// What every optimiser shares: frozen parameters are untouched, the step count is global, the
// learning rate can be changed, and mismatched gradients are refused.
#include "optim/optimizer.h"

#include <gtest/gtest.h>

#include "core/functions.h"
#include "optim/adam.h"
#include "optim/sgd.h"

namespace kiln {
namespace {

Tensor param(const std::vector<float>& values) {
  Tensor p = Tensor::from_vector(Shape{static_cast<std::int64_t>(values.size())}, values);
  p.set_requires_grad(true);
  return p;
}

TEST(Optimizer, FrozenParameterIsUntouched) {
  for (bool use_adam : {true, false}) {
    Tensor live = param({1, 2}), frozen = param({3, 4});
    frozen.set_requires_grad(false);
    std::unique_ptr<Optimizer> opt;
    if (use_adam) {
      opt = std::make_unique<Adam>(std::vector<Tensor>{live, frozen});
    } else {
      opt = std::make_unique<Sgd>(std::vector<Tensor>{live, frozen}, SgdOptions{0.1, 0.9});
    }
    // A loss through both: only the live one needs (and gets) a gradient.
    sum(mul(add(live, frozen), live)).backward();
    ASSERT_TRUE(live.grad().defined());
    ASSERT_FALSE(frozen.grad().defined());
    opt->step();
    EXPECT_EQ(frozen.to_double_vector(), std::vector<double>({3, 4}));
    EXPECT_NE(live.to_double_vector(), std::vector<double>({1, 2}));
    EXPECT_EQ(opt->step_count(), 1);
  }
}

TEST(Optimizer, FrozenParameterKeepsNoState) {
  Tensor live = param({1}), frozen = param({2});
  Adam adam({live, frozen});
  live.set_grad(Tensor::ones(Shape{1}));
  adam.step();
  EXPECT_TRUE(adam.first_moment(0).defined());
  EXPECT_FALSE(adam.first_moment(1).defined());  // no memory spent on a frozen base
}

TEST(Optimizer, ZeroGradDropsGradients) {
  Tensor p = param({1, 2});
  Sgd sgd({p});
  p.set_grad(Tensor::ones(Shape{2}));
  sgd.zero_grad();
  EXPECT_FALSE(p.grad().defined());
  sgd.step();  // nothing to do, but the step is counted
  EXPECT_EQ(p.to_double_vector(), std::vector<double>({1, 2}));
  EXPECT_EQ(sgd.step_count(), 1);
}

TEST(Optimizer, LearningRateCanChange) {
  Tensor p = param({1});
  Sgd sgd({p}, SgdOptions{0.5});
  EXPECT_EQ(sgd.learning_rate(), 0.5);
  sgd.set_learning_rate(0.25);
  p.set_grad(Tensor::ones(Shape{1}));
  sgd.step();
  EXPECT_EQ(p.item(), 0.75);
  EXPECT_THROW(sgd.set_learning_rate(-1), Error);
}

TEST(Optimizer, StepCountCanBeRestored) {
  Adam adam({param({1})});
  adam.set_step_count(41);
  adam.step();
  EXPECT_EQ(adam.step_count(), 42);
  EXPECT_THROW(adam.set_step_count(-1), Error);
}

TEST(Optimizer, RefusesMismatchedGradient) {
  Tensor p = param({1, 2});
  Adam adam({p});
  p.set_grad(Tensor::ones(Shape{2}, DType::Float64));
  EXPECT_THROW(adam.step(), Error);
}

TEST(Optimizer, RefusesNonLeafAndRepeatedParameters) {
  Tensor p = param({1, 2});
  EXPECT_THROW(Sgd({add(p, p)}), Error);
  EXPECT_THROW(Sgd({p, p}), Error);
  EXPECT_THROW(Sgd({Tensor()}), Error);
}

}  // namespace
}  // namespace kiln
