#include "core/autograd.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/functions.h"

namespace kiln {
namespace {

Tensor leaf(const std::vector<double>& v) {
  Tensor t = Tensor::from_vector(Shape{static_cast<std::int64_t>(v.size())}, v);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, ChainRuleThroughSeveralOps) {
  // L = sum((a * b + a) * 3)  =>  dL/da = 3 (b + 1), dL/db = 3 a
  Tensor a = leaf({1, 2, -3}), b = leaf({4, -5, 6});
  Tensor loss = sum(scale(add(mul(a, b), a), 3.0));
  EXPECT_DOUBLE_EQ(loss.item(), 3 * ((4 + 1) + (-10 + 2) + (-18 - 3)));
  loss.backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{15, -12, 21}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{3, 6, -9}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardsUntilZeroed) {
  Tensor a = leaf({1, 2});
  sum(scale(a, 2.0)).backward();
  sum(scale(a, 5.0)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{7, 7}));
  a.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  sum(a).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}

TEST(Autograd, ATensorUsedTwiceGetsBothContributions) {
  // L = sum(a * a) => 2a; add(a, a) must not alias the two gradients.
  Tensor a = leaf({3, -1});
  sum(add(mul(a, a), a)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{7, -1}));
}

// The hook data-parallel training starts its all-reduces from: once per leaf, with the leaf's
// gradient already complete, however many times the leaf is used.
TEST(Autograd, LeafGradientHookRunsOncePerLeafWhenItsGradientIsComplete) {
  Tensor a = leaf({3, -1}), b = leaf({2, 5});
  std::vector<std::vector<double>> seen_a, seen_b;
  {
    LeafGradientHook hook([&](const Tensor& t) {
      (t.same(a) ? seen_a : seen_b).push_back(t.grad().to_vector<double>());
    });
    sum(add(mul(a, a), mul(a, b))).backward();  // a three times, b once
  }
  ASSERT_EQ(seen_a.size(), 1u);
  EXPECT_EQ(seen_a[0], (std::vector<double>{2 * 3 + 2, 2 * -1 + 5}));  // 2a + b
  ASSERT_EQ(seen_b.size(), 1u);
  EXPECT_EQ(seen_b[0], (std::vector<double>{3, -1}));
  sum(mul(a, a)).backward();  // no hook any more
  EXPECT_EQ(seen_a.size(), 1u);
}

TEST(Autograd, SharedGradientTensorsAreNotAliasedInLeaves) {
  // add's backward hands the same tensor to both inputs; the leaves must get private copies,
  // or a later accumulation into one would change the other.
  Tensor a = leaf({1}), b = leaf({1});
  sum(add(a, b)).backward();
  sum(scale(a, 10.0)).backward();
  EXPECT_EQ(a.grad().to_vector<double>()[0], 11);
  EXPECT_EQ(b.grad().to_vector<double>()[0], 1);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor a = leaf({1, 2});
  Tensor y;
  {
    NoGradGuard guard;
    y = scale(a, 2.0);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, FrozenInputsGetNoGradient) {
  Tensor a = leaf({1, 2});
  Tensor frozen = Tensor::from_vector(Shape{2}, std::vector<double>{3, 4});
  sum(mul(a, frozen)).backward();
  EXPECT_FALSE(frozen.grad().defined());
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3, 4}));
}

TEST(Autograd, BackwardTwiceOnOneGraphIsAnError) {
  Tensor a = leaf({1});
  Tensor loss = sum(scale(a, 2.0));
  loss.backward();
  EXPECT_THROW(loss.backward(), Error);
}

TEST(Autograd, BackwardNeedsAScalarThatRequiresGrad) {
  Tensor a = leaf({1, 2});
  EXPECT_THROW(scale(a, 2.0).backward(), Error);
  EXPECT_THROW(sum(Tensor::ones({2})).backward(), Error);
}

TEST(Autograd, DeepChainsDoNotOverflowTheStack) {
  Tensor a = leaf({1});
  Tensor y = a;
  for (int i = 0; i < 20000; ++i) y = scale(y, 1.0);
  sum(y).backward();
  EXPECT_EQ(a.grad().item(), 1.0);
  // And a deep graph dropped without backward (evaluation without NoGradGuard) is freed too.
  Tensor z = a;
  for (int i = 0; i < 200000; ++i) z = scale(z, 1.0);
  z = Tensor();
  SUCCEED();
}

}  // namespace
}  // namespace kiln
