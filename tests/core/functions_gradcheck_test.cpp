// Every differentiable function passes the float64 finite-difference check, for every input that
// can carry a gradient.
#include <gtest/gtest.h>

#include "core/functions.h"
#include "tests/support/gradcheck.h"

namespace kiln {
namespace {

using test::gradcheck;
using test::projection_loss;

Tensor param(const Shape& shape, std::uint64_t seed, double lo = -1, double hi = 1) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, lo, hi, gen, DType::Float64);
  t.set_requires_grad(true);
  return t;
}

struct ConvCase {
  Shape x, w;
  Conv2dOptions opt;
  bool bias;
};

class Conv2dGradcheck : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dGradcheck, InputWeightAndBias) {
  const ConvCase& c = GetParam();
  Tensor x = param(c.x, 1), w = param(c.w, 2);
  Tensor b = c.bias ? param(Shape{c.w[0]}, 3) : Tensor();
  std::vector<Tensor> wrt{x, w};
  if (c.bias) wrt.push_back(b);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(conv2d(x, w, b, c.opt)); }, wrt));
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, Conv2dGradcheck,
    ::testing::Values(ConvCase{{2, 3, 5, 5}, {4, 3, 3, 3}, {1, 1, 1, 1}, true},   // VGG's 3x3
                      ConvCase{{1, 2, 6, 7}, {3, 2, 1, 1}, {1, 1, 0, 0}, false},  // 1x1
                      ConvCase{{2, 2, 7, 6}, {2, 2, 3, 2}, {2, 1, 1, 0}, true},   // odd shapes
                      ConvCase{{1, 1, 8, 8}, {2, 1, 5, 5}, {2, 2, 2, 2}, true},   // 5x5 stride 2
                      // The ReLU inside the op (VGG's layers). Fixed seeds: no output lies
                      // within a finite-difference step of the kink at 0.
                      ConvCase{{2, 3, 5, 5}, {4, 3, 3, 3}, {1, 1, 1, 1, true}, true}));

TEST(Gradcheck, MaxPool2dNonOverlappingAndOverlapping) {
  // Distinct random values: ties (kinks) have probability zero.
  Tensor x = param({2, 3, 6, 6}, 4);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(max_pool2d(x)); }, {x}));
  const Pool2dOptions overlap{3, 3, 2, 2, 1, 1};
  Tensor x2 = param({1, 2, 7, 7}, 5);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(max_pool2d(x2, overlap)); }, {x2}));
}

TEST(Gradcheck, LinearWithAndWithoutBias) {
  Tensor x = param({4, 5}, 6), w = param({5, 3}, 7), b = param({3}, 8);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(linear(x, w, b)); }, {x, w, b}));
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(linear(x, w, Tensor())); }, {x, w}));
}

TEST(Gradcheck, Relu) {
  Tensor x = param({3, 17}, 9);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(relu(x)); }, {x}));
}

TEST(Gradcheck, ReshapeAndFlatten) {
  Tensor x = param({2, 3, 2, 2}, 10);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(flatten(x)); }, {x}));
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(reshape(x, {4, -1})); }, {x}));
}

TEST(Gradcheck, DropoutWithAReseededGenerator) {
  Tensor x = param({4, 25}, 11);
  EXPECT_GRADCHECK(gradcheck(
      [&] {
        Generator gen(123);  // the same mask at every evaluation
        return projection_loss(dropout(x, 0.4, /*training=*/true, gen));
      },
      {x}));
}

TEST(Gradcheck, SoftmaxCrossEntropyWithLabelsAndProbabilities) {
  Tensor logits = param({5, 4}, 12, -3, 3);
  const Tensor labels = Tensor::from_vector(Shape{5}, std::vector<std::int32_t>{0, 3, 1, 1, 2});
  EXPECT_GRADCHECK(gradcheck([&] { return softmax_cross_entropy(logits, labels); }, {logits}));
  // Soft targets: rows of a softmax, so each row sums to one.
  Generator gen(13);
  const Tensor soft = softmax(Tensor::uniform({5, 4}, -1, 1, gen, DType::Float64));
  EXPECT_GRADCHECK(gradcheck([&] { return softmax_cross_entropy(logits, soft); }, {logits}));
  // Through a scaled loss, so the upstream gradient is not 1.
  EXPECT_GRADCHECK(
      gradcheck([&] { return scale(softmax_cross_entropy(logits, labels), 2.5); }, {logits}));
}

TEST(Gradcheck, ElementwiseAndReductions) {
  Tensor a = param({3, 4}, 14), b = param({3, 4}, 15);
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(add(a, b)); }, {a, b}));
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(mul(a, b)); }, {a, b}));
  EXPECT_GRADCHECK(gradcheck([&] { return projection_loss(scale(a, -1.5)); }, {a}));
  EXPECT_GRADCHECK(gradcheck([&] { return sum(mul(a, a)); }, {a}));
  EXPECT_GRADCHECK(gradcheck([&] { return mean(mul(a, b)); }, {a, b}));
}

TEST(Gradcheck, TheCheckerCatchesAWrongGradient) {
  // A test must be able to fail: a loss whose recorded backward is wrong must not pass.
  // mul(a, a.detach()) has true gradient 2a but autograd (correctly, for that graph) gives a;
  // the checker, which perturbs a's data and so both factors, must disagree.
  Tensor a = param({6}, 16);
  const test::GradcheckResult r = gradcheck([&] { return sum(mul(a, a.detach())); }, {a});
  EXPECT_FALSE(r.ok) << r.report;
}

}  // namespace
}  // namespace kiln
