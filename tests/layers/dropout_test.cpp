// Dropout: inverted scaling in training, identity in evaluation, repeatable masks, and gradients
// in float64 with the generator reseeded before every evaluation so the mask never changes.
#include "layers/dropout.h"

#include <gtest/gtest.h>

#include "tests/layers/layer_gradcheck.h"

namespace kiln {
namespace {

TEST(Dropout, GradcheckInTrainingWithReseededMask) {
  Dropout drop("dropout", 0.4, 123);
  ASSERT_TRUE(drop.is_training());
  EXPECT_GRADCHECK(
      test::gradcheck_layer(drop, Shape{4, 16}, [&] { drop.generator().set_state(123, 0); }));
}

TEST(Dropout, ZeroesAboutRateAndScalesSurvivors) {
  Dropout drop("dropout", 0.25, 7);
  const Tensor y = drop(Tensor::ones(Shape{100, 100}));
  int zeros = 0;
  for (double v : y.to_double_vector()) {
    if (v == 0) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 1 / 0.75);
    }
  }
  // 10000 Bernoulli(0.25): standard deviation 43, so 2500 +- 200 is a 4.6-sigma band.
  EXPECT_NEAR(zeros, 2500, 200);
}

TEST(Dropout, IdentityInEvaluation) {
  Dropout drop("dropout", 0.5, 7);
  drop.eval();
  Generator gen(1);
  const Tensor x = Tensor::uniform(Shape{8, 32}, -1, 1, gen);
  EXPECT_EQ(drop(x).to_double_vector(), x.to_double_vector());
  EXPECT_EQ(drop.generator().offset(), 0u);  // evaluation draws no random numbers
}

TEST(Dropout, MasksRepeatWithTheSeedAndChangeBetweenCalls) {
  Dropout a("dropout", 0.5, 11), b("dropout", 0.5, 11);
  const Tensor x = Tensor::ones(Shape{4, 64});
  const std::vector<double> first = a(x).to_double_vector();
  EXPECT_EQ(first, b(x).to_double_vector());
  EXPECT_NE(first, a(x).to_double_vector());
}

TEST(Dropout, RateOutsideRangeThrows) {
  EXPECT_THROW(Dropout("dropout", 1.0, 1), Error);
  EXPECT_THROW(Dropout("dropout", -0.1, 1), Error);
}

}  // namespace
}  // namespace kiln
