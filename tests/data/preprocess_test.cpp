#include "data/preprocess.h"

#include <gtest/gtest.h>

#include <vector>

namespace kiln {
namespace {

TEST(VggPreprocess, RgbToBgrMinusMeanInChwOrder) {
  // 1x2 image: pixel 0 = (R 10, G 20, B 30), pixel 1 = (255, 0, 128).
  const std::vector<std::uint8_t> rgb{10, 20, 30, 255, 0, 128};
  const std::vector<float> expected{30 - 103.939f, 128 - 103.939f,  // B plane
                                    20 - 116.779f, 0 - 116.779f,    // G plane
                                    10 - 123.68f,  255 - 123.68f};  // R plane
  std::vector<float> out(6, -1e9f);
  vgg_preprocess(rgb.data(), 1, 2, out.data());
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(out[i], expected[i]) << i;
  // The float path (after augmentation) agrees with the uint8 one.
  const std::vector<float> rgb_f(rgb.begin(), rgb.end());
  std::vector<float> out_f(6, 1e9f);
  vgg_preprocess(rgb_f.data(), 1, 2, out_f.data());
  EXPECT_EQ(out_f, out);
}

}  // namespace
}  // namespace kiln
