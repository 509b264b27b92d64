// Dropout on every device (tests/support/devices.h): inverted scaling in training, identity in
// evaluation, repeatable masks, and gradients (float64 finite differences on the CPU reference,
// agreement with it on the others) with the generator reseeded before every evaluation so the
// mask never changes. Masks are counter-based, so every device draws the same one.
#include "layers/dropout.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

template <typename D>
class DropoutOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(DropoutOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(DropoutOn, GradientsInTrainingWithReseededMask) {
  const auto make = [] {
    auto drop = std::make_shared<Dropout>("dropout", 0.4, 123);
    EXPECT_TRUE(drop->is_training());
    return drop;
  };
  test::expect_layer_gradients_on<TypeParam>(make, Shape{4, 16}, 1e-4, [](Module& m) {
    static_cast<Dropout&>(m).generator().set_state(123, 0);
  });
}

TYPED_TEST(DropoutOn, ZeroesAboutRateAndScalesSurvivors) {
  Dropout drop("dropout", 0.25, 7);
  const Tensor y = drop(TestFixture::here(Tensor::ones(Shape{100, 100})));
  int zeros = 0;
  for (double v : TestFixture::values(y)) {
    if (v == 0) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 1 / 0.75);
    }
  }
  // 10000 Bernoulli(0.25): standard deviation 43, so 2500 +- 200 is a 4.6-sigma band.
  EXPECT_NEAR(zeros, 2500, 200);
}

TYPED_TEST(DropoutOn, IdentityInEvaluation) {
  Dropout drop("dropout", 0.5, 7);
  drop.eval();
  Generator gen(1);
  const Tensor x = TestFixture::here(Tensor::uniform(Shape{8, 32}, -1, 1, gen));
  EXPECT_EQ(TestFixture::values(drop(x)), TestFixture::values(x));
  EXPECT_EQ(drop.generator().offset(), 0u);  // evaluation draws no random numbers
}

TYPED_TEST(DropoutOn, MasksRepeatWithTheSeedAndChangeBetweenCalls) {
  Dropout a("dropout", 0.5, 11), b("dropout", 0.5, 11);
  const Tensor x = TestFixture::here(Tensor::ones(Shape{4, 64}));
  const std::vector<double> first = TestFixture::values(a(x));
  EXPECT_EQ(first, TestFixture::values(b(x)));
  EXPECT_NE(first, TestFixture::values(a(x)));
}

TEST(Dropout, RateOutsideRangeThrows) {
  EXPECT_THROW(Dropout("dropout", 1.0, 1), Error);
  EXPECT_THROW(Dropout("dropout", -0.1, 1), Error);
}

}  // namespace
}  // namespace kiln
