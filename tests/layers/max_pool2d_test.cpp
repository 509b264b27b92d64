// MaxPool2d on every device (tests/support/devices.h): values, shapes, and gradients (float64
// finite differences on the CPU reference, agreement with it on the others).
#include "layers/max_pool2d.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

template <typename D>
class MaxPool2dOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(MaxPool2dOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(MaxPool2dOn, TakesTheMaximumOfEachWindow) {
  MaxPool2d pool("pool");
  const Tensor x = TestFixture::here(Shape{1, 1, 4, 4}, {1, 2, 5, 0,    //
                                                         3, 4, 1, 1,    //
                                                         -1, -2, 7, 8,  //
                                                         -3, -4, 9, 6});
  const Tensor y = pool(x);
  EXPECT_EQ(y.shape(), Shape({1, 1, 2, 2}));
  EXPECT_EQ(TestFixture::values(y), std::vector<double>({4, 5, -1, 9}));
}

TYPED_TEST(MaxPool2dOn, DropsTheOddRowAsKerasValidPaddingDoes) {
  MaxPool2d pool("pool");
  EXPECT_EQ(pool(TestFixture::here(Tensor::zeros(Shape{2, 3, 7, 5}))).shape(), Shape({2, 3, 3, 2}));
}

TYPED_TEST(MaxPool2dOn, Gradients2x2) {
  const auto make = [] { return std::make_shared<MaxPool2d>("pool"); };
  EXPECT_EQ(test::checked_tensors(*make()), 1u);
  test::expect_layer_gradients_on<TypeParam>(make, Shape{2, 3, 6, 6});
}

TYPED_TEST(MaxPool2dOn, GradientsOverlapping3x3Stride2) {
  const auto make = [] {
    Pool2dOptions o;
    o.kernel_h = o.kernel_w = 3;
    o.stride_h = o.stride_w = 2;
    return std::make_shared<MaxPool2d>("pool", o);
  };
  test::expect_layer_gradients_on<TypeParam>(make, Shape{2, 2, 7, 7});
}

TEST(MaxPool2d, HasNoParameters) {
  MaxPool2d pool("block1_pool");
  EXPECT_TRUE(pool.named_parameters().empty());
}

}  // namespace
}  // namespace kiln
