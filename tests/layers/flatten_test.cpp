// Flatten: NCHW order (channel outermost) and gradients in float64.
#include "layers/flatten.h"

#include <gtest/gtest.h>

#include "tests/layers/layer_gradcheck.h"

namespace kiln {
namespace {

TEST(Flatten, KeepsNchwOrder) {
  Flatten flatten("flatten");
  std::vector<float> v(2 * 2 * 2 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  const Tensor y = flatten(Tensor::from_vector<float>(Shape{2, 2, 2, 3}, v));
  EXPECT_EQ(y.shape(), Shape({2, 12}));
  // Row n holds x[n, c, h, w] at c*6 + h*3 + w: the memory order, unchanged.
  const std::vector<double> out = y.to_double_vector();
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], static_cast<double>(i));
}

TEST(Flatten, Gradcheck) {
  Flatten flatten("flatten");
  EXPECT_GRADCHECK(test::gradcheck_layer(flatten, Shape{2, 3, 2, 2}));
}

}  // namespace
}  // namespace kiln
