// Dense: gradients and values on every device (tests/support/devices.h), Keras' (in, out) kernel
// layout, initialisation and shape errors.
#include "layers/dense.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/functions.h"
#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

template <typename D>
class DenseOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(DenseOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(DenseOn, GradientsLinear) {
  const auto make = [] {
    Generator gen(1);
    return std::make_shared<Dense>("dense", 5, 3, Activation::None, gen);
  };
  EXPECT_EQ(test::checked_tensors(*make()), 3u);
  test::expect_layer_gradients_on<TypeParam>(make, Shape{4, 5});
}

TYPED_TEST(DenseOn, GradientsRelu) {
  const auto make = [] {
    Generator gen(2);
    return std::make_shared<Dense>("dense", 6, 4, Activation::ReLU, gen);
  };
  test::expect_layer_gradients_on<TypeParam>(make, Shape{3, 6});
}

TYPED_TEST(DenseOn, GradientsWithoutBias) {
  const auto make = [] {
    Generator gen(3);
    return std::make_shared<Dense>("dense", 4, 2, Activation::None, gen, /*use_bias=*/false);
  };
  EXPECT_EQ(test::checked_tensors(*make()), 2u);
  test::expect_layer_gradients_on<TypeParam>(make, Shape{2, 4});
}

TYPED_TEST(DenseOn, ComputesInputTimesKernelPlusBias) {
  Generator gen(4);
  Dense dense("dense", 2, 3, Activation::ReLU, gen);
  dense.to(TypeParam::kDType);
  dense.to(TypeParam::kDevice);
  // Keras layout: kernel[i][j] joins input feature i to output unit j.
  Tensor kernel = dense.kernel(), bias = dense.bias();  // handles: writes reach the layer
  kernel.copy_from(Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6}));
  bias.copy_from(Tensor::from_vector<float>(Shape{3}, {0.5f, -20.f, 0}));
  const Tensor y = dense(TestFixture::here(Shape{1, 2}, {1, -1}));
  // [1, -1] @ [[1,2,3],[4,5,6]] = [-3, -3, -3]; + bias = [-2.5, -23, -3]; relu -> 0.
  EXPECT_EQ(TestFixture::values(y), std::vector<double>({0, 0, 0}));
  const Tensor z = dense(TestFixture::here(Shape{1, 2}, {2, 1}));
  // [2, 1] @ kernel = [6, 9, 12]; + bias = [6.5, -11, 12]; relu -> [6.5, 0, 12].
  EXPECT_EQ(TestFixture::values(z), std::vector<double>({6.5, 0, 12}));
}

TEST(Dense, KerasNamesGlorotInitAndZeroBias) {
  Generator gen(5);
  Dense dense("fc1", 300, 100, Activation::ReLU, gen);
  const auto named = dense.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "fc1/kernel");
  EXPECT_EQ(named[0].second.shape(), Shape({300, 100}));
  EXPECT_EQ(named[1].first, "fc1/bias");
  const double limit = std::sqrt(6.0 / 400.0);
  double lo = 0, hi = 0;
  for (double w : dense.kernel().to_double_vector()) {
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_LT(lo, -0.99 * limit);
  EXPECT_GT(hi, 0.99 * limit);
  for (double b : dense.bias().to_double_vector()) EXPECT_EQ(b, 0.0);
}

TEST(Dense, WrongFeaturesNamesBothShapes) {
  Generator gen(1);
  Dense dense("dense", 512, 256, Activation::ReLU, gen);
  try {
    dense(Tensor::zeros(Shape{8, 100}));
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dense"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[8,100]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[512,256]"), std::string::npos) << msg;
  }
  // A feature map straight into Dense (Flatten forgotten) fails the same way.
  EXPECT_THROW(dense(Tensor::zeros(Shape{8, 512, 1, 1})), Error);
}

}  // namespace
}  // namespace kiln
