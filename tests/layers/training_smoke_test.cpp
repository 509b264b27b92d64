// End to end on the CPU: layers, autograd, softmax cross-entropy and Adam together learn a small
// synthetic image problem. If any gradient or update were wrong the loss would stall well above
// the bound; the problem is easy enough that a correct stack reaches it in a couple of dozen steps.
#include <gtest/gtest.h>

#include <cmath>

#include "core/functions.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/sequential.h"
#include "optim/adam.h"

namespace kiln {
namespace {

constexpr std::int64_t kClasses = 4, kPerClass = 16, kSide = 8;
constexpr std::int64_t kSamples = kClasses * kPerClass;

// Class c's 8x8 pattern: 0 top half lit, 1 left half lit, 2 a diagonal band, 3 a 2x2 checkerboard.
double pattern(std::int64_t c, std::int64_t h, std::int64_t w) {
  switch (c) {
    case 0:
      return h < kSide / 2 ? 1 : 0;
    case 1:
      return w < kSide / 2 ? 1 : 0;
    case 2:
      return std::abs(h - w) <= 1 ? 1 : 0;
    default:
      return (h / 2 + w / 2) % 2 == 0 ? 1 : 0;
  }
}

struct Problem {
  Tensor images;  // (64, 1, 8, 8) float32: pattern + N(0, 0.3) noise
  Tensor labels;  // (64) int32
};

Problem make_problem(std::uint64_t seed) {
  Generator gen(seed);
  std::vector<float> pixels;
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < kSamples; ++i) {
    const std::int64_t c = i % kClasses;
    labels.push_back(static_cast<std::int32_t>(c));
    for (std::int64_t h = 0; h < kSide; ++h) {
      for (std::int64_t w = 0; w < kSide; ++w) {
        pixels.push_back(static_cast<float>(pattern(c, h, w) + gen.normal(0, 0.3)));
      }
    }
  }
  return {Tensor::from_vector(Shape{kSamples, 1, kSide, kSide}, pixels),
          Tensor::from_vector(Shape{kSamples}, labels)};
}

TEST(TrainingSmoke, TinyConvNetLearnsFourPatternsWithAdam) {
  Generator gen(42);
  Sequential net("net");
  net.add(std::make_shared<Conv2d>("conv", 1, 8, Conv2dConfig::same_relu(3), gen));
  net.add(std::make_shared<MaxPool2d>("pool"));
  net.add(std::make_shared<Flatten>("flatten"));
  net.add(std::make_shared<Dense>("dense", 8 * 4 * 4, kClasses, Activation::None, gen));
  const Problem data = make_problem(7);

  AdamOptions options;
  options.lr = 0.01;
  Adam adam(net.trainable_parameters(), options);

  // Full-batch steps until the loss is below the bound; a correct stack needs about 20 (17 with
  // these seeds), so 100 leaves room for other kernels' rounding without hiding a broken one.
  constexpr double kTargetLoss = 0.05;
  constexpr int kMaxSteps = 100;
  double first_loss = 0, loss = 0;
  int steps = 0;
  for (; steps < kMaxSteps; ++steps) {
    adam.zero_grad();
    const Tensor l = softmax_cross_entropy(net(data.images), data.labels);
    loss = l.item();
    if (steps == 0) first_loss = loss;
    if (loss < kTargetLoss) break;
    l.backward();
    adam.step();
  }
  // Glorot-initialised logits start near uniform over the 4 classes: loss near log(4) = 1.386.
  EXPECT_NEAR(first_loss, std::log(4.0), 0.5);
  EXPECT_LT(loss, kTargetLoss) << "after " << steps << " steps";
  EXPECT_EQ(adam.step_count(), steps);
  RecordProperty("steps", steps);
  RecordProperty("first_loss", std::to_string(first_loss));
  RecordProperty("final_loss", std::to_string(loss));

  net.eval();
  const std::vector<double> logits = net(data.images).to_double_vector();
  const std::vector<std::int32_t> labels = data.labels.to_vector<std::int32_t>();
  int correct = 0;
  for (std::int64_t i = 0; i < kSamples; ++i) {
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < kClasses; ++k) {
      if (logits[i * kClasses + k] > logits[i * kClasses + best]) best = k;
    }
    correct += best == labels[i];
  }
  EXPECT_EQ(correct, kSamples);
}

}  // namespace
}  // namespace kiln
