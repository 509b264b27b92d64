// Flatten on every device (tests/support/devices.h): NCHW order (channel outermost), and gradients
// (float64 finite differences on the CPU reference, agreement with it on the others).
#include "layers/flatten.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

template <typename D>
class FlattenOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(FlattenOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(FlattenOn, KeepsNchwOrder) {
  Flatten flatten("flatten");
  std::vector<double> v(2 * 2 * 2 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  const Tensor y = flatten(TestFixture::here(Shape{2, 2, 2, 3}, v));
  EXPECT_EQ(y.shape(), Shape({2, 12}));
  // Row n holds x[n, c, h, w] at c*6 + h*3 + w: the memory order, unchanged.
  const std::vector<double> out = TestFixture::values(y);
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], static_cast<double>(i));
}

TYPED_TEST(FlattenOn, Gradients) {
  test::expect_layer_gradients_on<TypeParam>([] { return std::make_shared<Flatten>("flatten"); },
                                             Shape{2, 3, 2, 2});
}

}  // namespace
}  // namespace kiln
