// ReLU as a layer, on every device (tests/support/devices.h): values, and gradients (float64
// finite differences on the CPU reference, agreement with it on the others).
#include "layers/relu.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

template <typename D>
class ReLUOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(ReLUOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(ReLUOn, ClampsNegativesToZero) {
  ReLU relu("relu");
  const Tensor y = relu(TestFixture::here(Shape{1, 4}, {-2, -0.5, 0.5, 3}));
  EXPECT_EQ(y.device(), TypeParam::kDevice);
  EXPECT_EQ(TestFixture::values(y), std::vector<double>({0, 0, 0.5, 3}));
}

TYPED_TEST(ReLUOn, Gradients) {
  test::expect_layer_gradients_on<TypeParam>([] { return std::make_shared<ReLU>("relu"); },
                                             Shape{3, 2, 4, 4});
}

}  // namespace
}  // namespace kiln
