// MaxPool2d: values, shapes and gradients in float64.
#include "layers/max_pool2d.h"

#include <gtest/gtest.h>

#include "tests/layers/layer_gradcheck.h"

namespace kiln {
namespace {

TEST(MaxPool2d, TakesTheMaximumOfEachWindow) {
  MaxPool2d pool("pool");
  const Tensor x = Tensor::from_vector<float>(Shape{1, 1, 4, 4}, {1, 2, 5, 0,    //
                                                                  3, 4, 1, 1,    //
                                                                  -1, -2, 7, 8,  //
                                                                  -3, -4, 9, 6});
  const Tensor y = pool(x);
  EXPECT_EQ(y.shape(), Shape({1, 1, 2, 2}));
  EXPECT_EQ(y.to_double_vector(), std::vector<double>({4, 5, -1, 9}));
}

TEST(MaxPool2d, DropsTheOddRowAsKerasValidPaddingDoes) {
  MaxPool2d pool("pool");
  EXPECT_EQ(pool(Tensor::zeros(Shape{2, 3, 7, 5})).shape(), Shape({2, 3, 3, 2}));
}

TEST(MaxPool2d, Gradcheck2x2) {
  MaxPool2d pool("pool");
  EXPECT_EQ(test::checked_tensors(pool), 1u);
  EXPECT_GRADCHECK(test::gradcheck_layer(pool, Shape{2, 3, 6, 6}));
}

TEST(MaxPool2d, GradcheckOverlapping3x3Stride2) {
  Pool2dOptions o;
  o.kernel_h = o.kernel_w = 3;
  o.stride_h = o.stride_w = 2;
  MaxPool2d pool("pool", o);
  EXPECT_GRADCHECK(test::gradcheck_layer(pool, Shape{2, 2, 7, 7}));
}

TEST(MaxPool2d, HasNoParameters) {
  MaxPool2d pool("block1_pool");
  EXPECT_TRUE(pool.named_parameters().empty());
}

}  // namespace
}  // namespace kiln
