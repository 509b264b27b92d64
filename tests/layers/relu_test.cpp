// ReLU as a layer: values and gradients in float64.
#include "layers/relu.h"

#include <gtest/gtest.h>

#include "tests/layers/layer_gradcheck.h"

namespace kiln {
namespace {

TEST(ReLU, ClampsNegativesToZero) {
  ReLU relu("relu");
  const Tensor y = relu(Tensor::from_vector<float>(Shape{1, 4}, {-2, -0.5f, 0.5f, 3}));
  EXPECT_EQ(y.to_double_vector(), std::vector<double>({0, 0, 0.5, 3}));
}

TEST(ReLU, Gradcheck) {
  ReLU relu("relu");
  EXPECT_GRADCHECK(test::gradcheck_layer(relu, Shape{3, 2, 4, 4}));
}

}  // namespace
}  // namespace kiln
