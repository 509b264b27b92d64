// Conv2d: gradients (input, kernel, bias) on every device (tests/support/devices.h) for each
// padding mode, stride and activation; shapes; Keras' initialisation; errors that name the shapes.
#include "layers/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "layers/init.h"
#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

Conv2dConfig config(std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw,
                    Padding padding, Activation act, bool bias) {
  Conv2dConfig c;
  c.kernel_h = kh;
  c.kernel_w = kw;
  c.stride_h = sh;
  c.stride_w = sw;
  c.padding = padding;
  c.activation = act;
  c.use_bias = bias;
  return c;
}

struct Case {
  const char* what;
  Conv2dConfig config;
  Shape input;
  Shape output;
};

// Every padding mode, stride and activation, with and without bias.
const Case kCases[] = {
    Case{"same_relu_bias", config(3, 3, 1, 1, Padding::Same, Activation::ReLU, true),
         Shape{2, 3, 5, 5}, Shape{2, 4, 5, 5}},
    Case{"same_linear_bias", config(3, 3, 1, 1, Padding::Same, Activation::None, true),
         Shape{2, 3, 5, 5}, Shape{2, 4, 5, 5}},
    Case{"valid_no_bias", config(3, 3, 1, 1, Padding::Valid, Activation::None, false),
         Shape{2, 2, 6, 5}, Shape{2, 4, 4, 3}},
    Case{"valid_relu_no_bias", config(3, 3, 1, 1, Padding::Valid, Activation::ReLU, false),
         Shape{1, 3, 5, 5}, Shape{1, 4, 3, 3}},
    // ceil(7 / 2) = 4 rows need (4 - 1) * 2 + 3 - 7 = 2 rows of padding: one each side.
    Case{"same_stride2", config(3, 3, 2, 2, Padding::Same, Activation::ReLU, true),
         Shape{2, 2, 7, 7}, Shape{2, 4, 4, 4}},
    Case{"valid_stride2", config(3, 3, 2, 2, Padding::Valid, Activation::None, true),
         Shape{1, 2, 8, 7}, Shape{1, 4, 3, 3}},
    // (6 + 2*2 - 3) / 2 + 1 = 4 rows, (5 + 2*1 - 2) / 1 + 1 = 6 columns.
    Case{"explicit_rect",
         [] {
           Conv2dConfig c = config(3, 2, 2, 1, Padding::Explicit, Activation::None, true);
           c.pad_h = 2;
           c.pad_w = 1;
           return c;
         }(),
         Shape{2, 2, 6, 5}, Shape{2, 4, 4, 6}},
    Case{"pointwise", config(1, 1, 1, 1, Padding::Same, Activation::ReLU, true), Shape{2, 3, 3, 4},
         Shape{2, 4, 3, 4}},
};

template <typename D>
class Conv2dOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(Conv2dOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(Conv2dOn, GradientsOfInputKernelAndBias) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.what);
    const auto make = [&c] {
      Generator gen(3);
      return std::make_shared<Conv2d>("conv", c.input[1], 4, c.config, gen);
    };
    {
      std::shared_ptr<Conv2d> conv = make();
      conv->to(TypeParam::kDType);
      conv->to(TypeParam::kDevice);
      EXPECT_EQ((*conv)(TestFixture::here(Tensor::zeros(c.input))).shape(), c.output);
      EXPECT_EQ(test::checked_tensors(*conv), c.config.use_bias ? 3u : 2u);
    }
    test::expect_layer_gradients_on<TypeParam>(make, c.input);
  }
}

TEST(Conv2d, KerasNamesAndLayouts) {
  Generator gen(1);
  Conv2d conv("block1_conv1", 3, 64, Conv2dConfig::same_relu(3), gen);
  const auto named = conv.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "block1_conv1/kernel");
  EXPECT_EQ(named[0].second.shape(), Shape({64, 3, 3, 3}));  // OIHW
  EXPECT_EQ(named[1].first, "block1_conv1/bias");
  EXPECT_EQ(named[1].second.shape(), Shape({64}));

  Conv2d no_bias("c", 3, 8, config(3, 3, 1, 1, Padding::Same, Activation::None, false), gen);
  EXPECT_EQ(no_bias.named_parameters().size(), 1u);
  EXPECT_FALSE(no_bias.bias().defined());
}

TEST(Conv2d, GlorotUniformKernelAndZeroBias) {
  Generator gen(5);
  Conv2d conv("c", 16, 32, Conv2dConfig::same_relu(3), gen);
  // fan_in = 16 * 9 = 144, fan_out = 32 * 9 = 288: limit = sqrt(6 / 432) = 0.11785.
  const double limit = std::sqrt(6.0 / 432.0);
  EXPECT_DOUBLE_EQ(glorot_limit(144, 288), limit);
  const std::vector<double> w = conv.kernel().to_double_vector();
  double lo = 0, hi = 0, total = 0;
  for (double v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    total += v;
  }
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  // 4608 uniform draws: the extremes come within 1% of the limit, the mean near 0.
  EXPECT_LT(lo, -0.99 * limit);
  EXPECT_GT(hi, 0.99 * limit);
  EXPECT_NEAR(total / static_cast<double>(w.size()), 0.0, 0.01);
  for (double b : conv.bias().to_double_vector()) EXPECT_EQ(b, 0.0);
}

TEST(Conv2d, SameInitForSameSeed) {
  Generator a(9), b(9);
  Conv2d c1("c", 3, 4, Conv2dConfig::same_relu(3), a);
  Conv2d c2("c", 3, 4, Conv2dConfig::same_relu(3), b);
  EXPECT_EQ(c1.kernel().to_double_vector(), c2.kernel().to_double_vector());
}

TEST(Conv2d, WrongChannelsNamesBothShapes) {
  Generator gen(1);
  Conv2d conv("block1_conv1", 3, 64, Conv2dConfig::same_relu(3), gen);
  try {
    conv(Tensor::zeros(Shape{2, 4, 8, 8}));
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("block1_conv1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2,4,8,8]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[64,3,3,3]"), std::string::npos) << msg;
  }
  EXPECT_THROW(conv(Tensor::zeros(Shape{3, 8, 8})), Error);
}

TEST(Conv2d, AsymmetricSamePaddingIsAnError) {
  // ceil(8 / 2) = 4 rows need (4 - 1) * 2 + 3 - 8 = 1 row: TensorFlow pads it at the bottom only.
  Generator gen(1);
  Conv2d conv("c", 1, 1, config(3, 3, 2, 2, Padding::Same, Activation::None, true), gen);
  try {
    conv(Tensor::zeros(Shape{1, 1, 8, 8}));
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("asymmetric"), std::string::npos) << e.what();
  }
}

TEST(Conv2d, BadConfigurationsThrow) {
  Generator gen(1);
  EXPECT_THROW(Conv2d("c", 0, 4, Conv2dConfig{}, gen), Error);
  EXPECT_THROW(Conv2d("c", 3, 4, config(3, 3, 0, 1, Padding::Same, Activation::None, true), gen),
               Error);
  Conv2dConfig stray_pad;
  stray_pad.pad_h = 1;  // padding is Same: pad_h would be ignored, so it is refused
  EXPECT_THROW(Conv2d("c", 3, 4, stray_pad, gen), Error);
}

TEST(Conv2d, FrozenKernelGetsNoGradientButInputDoes) {
  Generator gen(2);
  Conv2d conv("c", 2, 3, Conv2dConfig::same_relu(3), gen);
  conv.set_trainable(false);
  Tensor x = Tensor::uniform(Shape{1, 2, 4, 4}, -1, 1, gen);
  x.set_requires_grad(true);
  sum(conv(x)).backward();
  EXPECT_FALSE(conv.kernel().grad().defined());
  EXPECT_FALSE(conv.bias().grad().defined());
  EXPECT_TRUE(x.grad().defined());
}

}  // namespace
}  // namespace kiln
