// VGG16 as keras.applications builds it: layer names and order, parameter count, shapes, Keras'
// initialisation, the head's names, and a frozen base under a trainable head.
#include "layers/vgg16.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/functions.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

const std::vector<std::string> kBaseLayers = {
    "block1_conv1", "block1_conv2", "block1_pool",                  //
    "block2_conv1", "block2_conv2", "block2_pool",                  //
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_pool",  //
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_pool",  //
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"};

std::vector<std::string> layer_names(const Sequential& s) {
  std::vector<std::string> names;
  for (const auto& layer : s.layers()) names.push_back(layer->name());
  return names;
}

TEST(Vgg16, BaseHasKerasLayersAndParameterCount) {
  Generator gen(1);
  auto base = vgg16_base(gen);
  EXPECT_EQ(base->name(), "vgg16");
  EXPECT_EQ(layer_names(*base), kBaseLayers);
  EXPECT_EQ(base->parameter_count(), 14714688);  // Keras: VGG16(include_top=False).count_params()

  const auto named = base->named_parameters();
  ASSERT_EQ(named.size(), 26u);  // 13 kernels, 13 biases
  EXPECT_EQ(named[0].first, "block1_conv1/kernel");
  EXPECT_EQ(named[0].second.shape(), Shape({64, 3, 3, 3}));
  EXPECT_EQ(named[1].first, "block1_conv1/bias");
  EXPECT_EQ(named[25].first, "block5_conv3/bias");
  EXPECT_EQ(named[24].second.shape(), Shape({512, 512, 3, 3}));
}

TEST(Vgg16, GrayscaleBaseDiffersOnlyInTheFirstKernel) {
  Generator gen(1);
  // block1_conv1's kernel shrinks from 64*3*9 to 64*1*9: 1152 fewer parameters.
  EXPECT_EQ(vgg16_base(gen, 1)->parameter_count(), 14714688 - 1152);
}

TEST(Vgg16, GlorotKernelsAndZeroBiases) {
  Generator gen(2);
  auto base = vgg16_base(gen);
  for (const char* name : {"block1_conv1", "block3_conv2", "block5_conv3"}) {
    auto conv = base->layer<Conv2d>(name);
    const std::int64_t area = 9;
    const double limit =
        std::sqrt(6.0 / static_cast<double>((conv->in_channels() + conv->out_channels()) * area));
    double lo = 0, hi = 0;
    for (double w : conv->kernel().to_double_vector()) {
      lo = std::min(lo, w);
      hi = std::max(hi, w);
    }
    EXPECT_GE(lo, -limit) << name;
    EXPECT_LE(hi, limit) << name;
    EXPECT_LT(lo, -0.98 * limit) << name;
    EXPECT_GT(hi, 0.98 * limit) << name;
    for (double b : conv->bias().to_double_vector()) ASSERT_EQ(b, 0.0) << name;
    EXPECT_EQ(conv->config().activation, Activation::ReLU) << name;
  }
}

TEST(Vgg16, HeadHasKerasNames) {
  Generator gen(3);
  HeadOptions options;
  auto head = vgg16_head(MapShape{512, 1, 1}, options, gen);
  EXPECT_EQ(layer_names(*head),
            std::vector<std::string>({"flatten", "dense", "dropout", "dense_1"}));
  std::vector<std::string> names;
  for (const auto& [name, t] : head->named_parameters()) names.push_back(name);
  EXPECT_EQ(names, std::vector<std::string>(
                       {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}));
  EXPECT_EQ(head->layer<Dense>("dense")->kernel().shape(), Shape({512, 256}));
  EXPECT_EQ(head->layer<Dense>("dense")->activation(), Activation::ReLU);
  EXPECT_EQ(head->layer<Dense>("dense_1")->kernel().shape(), Shape({256, 10}));
  EXPECT_EQ(head->layer<Dense>("dense_1")->activation(), Activation::None);  // logits
  EXPECT_EQ(head->layer<Dropout>("dropout")->rate(), 0.5);
}

// One model shared by the tests that run it: building and running VGG16 is the slow part.
class Vgg16Classifier : public ::testing::Test {
 protected:
  void SetUp() override {
    Generator gen(4);
    model_ = vgg16_classifier(32, HeadOptions{}, gen);
    Generator data(5);
    x_ = Tensor::uniform(Shape{2, 3, 32, 32}, -1, 1, data);
  }
  std::shared_ptr<Sequential> model_;
  Tensor x_;  // (2, 3, 32, 32)
};

TEST_F(Vgg16Classifier, ShapesAndNames) {
  EXPECT_EQ(layer_names(*model_), std::vector<std::string>({"vgg16", "head"}));
  const Tensor features = (*model_->layer("vgg16"))(x_);
  EXPECT_EQ(features.shape(), Shape({2, 512, 1, 1}));
  EXPECT_EQ((*model_)(x_).shape(), Shape({2, 10}));
  const auto named = model_->named_parameters();
  ASSERT_EQ(named.size(), 30u);
  EXPECT_EQ(named[0].first, "block1_conv1/kernel");
  EXPECT_EQ(named[26].first, "dense/kernel");
  EXPECT_EQ(named[26].second.shape(), Shape({512, 256}));  // 512 * (32 / 32)^2
  EXPECT_EQ(named[29].first, "dense_1/bias");
  EXPECT_EQ(model_->parameter_count(), 14714688 + 512 * 256 + 256 + 256 * 10 + 10);
}

// The whole classifier on every device (tests/support/devices.h), its base frozen as the recipe
// trains it: no gradient reaches the base, and the head's gradients and the logits agree with the
// same model on the float64 CPU reference (dropout off, so both compute the same function).
template <typename D>
class Vgg16ClassifierOn : public test::OnEveryDevice<D> {
 protected:
  struct Pass {
    std::vector<double> logits;
    std::vector<std::vector<double>> head_grads;
  };
  // Builds the classifier from seed 4, freezes the base, moves it to (device, dtype), runs one
  // forward and backward on x (seed 5) and checks where gradients went.
  static Pass frozen_base_pass(Device device, DType dtype) {
    Generator gen(4);
    auto model = vgg16_classifier(32, HeadOptions{}, gen);
    model->layer("vgg16")->set_trainable(false);
    model->layer<Dropout>("dropout")->train(false);
    model->to(dtype);
    model->to(device);
    EXPECT_EQ(model->trainable_parameters().size(), 4u);
    Generator data(5);
    const Tensor x =
        Tensor::uniform(Shape{2, 3, 32, 32}, -1, 1, data, DType::Float64).to(dtype).to(device);
    const Tensor labels = Tensor::from_vector<std::int32_t>(Shape{2}, {3, 7}).to(device);
    const Tensor logits = (*model)(x);
    softmax_cross_entropy(logits, labels).backward();
    for (const auto& [name, p] : model->layer("vgg16")->named_parameters()) {
      EXPECT_FALSE(p.grad().defined()) << name;
    }
    Pass out{logits.to(Device::CPU).to_double_vector(), {}};
    for (const auto& [name, p] : model->layer("head")->named_parameters()) {
      EXPECT_TRUE(p.grad().defined()) << name;
      if (!p.grad().defined()) continue;
      out.head_grads.push_back(p.grad().to(Device::CPU).to_double_vector());
      double norm = 0;
      for (double g : out.head_grads.back()) norm += g * g;
      EXPECT_GT(norm, 0) << name;
    }
    // No backward work in the base: its output carries no graph.
    EXPECT_EQ((*model->layer("vgg16"))(x).grad_fn(), nullptr);
    return out;
  }
};
TYPED_TEST_SUITE(Vgg16ClassifierOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(Vgg16ClassifierOn, FrozenBaseGetsNoGradientsWhileTheHeadDoes) {
  const auto got = TestFixture::frozen_base_pass(TypeParam::kDevice, TypeParam::kDType);
  if constexpr (!std::is_same_v<TypeParam, test::CpuReference>) {
    const auto want = TestFixture::frozen_base_pass(Device::CPU, DType::Float64);
    EXPECT_TRUE(test::close_relative(got.logits, want.logits, 1e-4, "logits"));
    ASSERT_EQ(got.head_grads.size(), want.head_grads.size());
    for (std::size_t i = 0; i < got.head_grads.size(); ++i) {
      EXPECT_TRUE(test::close_relative(got.head_grads[i], want.head_grads[i], 1e-4,
                                       "head gradient " + std::to_string(i)));
    }
  }
}

TEST_F(Vgg16Classifier, DropoutIsIdentityInEvaluation) {
  model_->eval();
  const std::vector<double> a = (*model_)(x_).to_double_vector();
  EXPECT_EQ(a, (*model_)(x_).to_double_vector());
  // In training the dropout mask changes from call to call, and so do the logits.
  model_->train();
  EXPECT_NE((*model_)(x_).to_double_vector(), (*model_)(x_).to_double_vector());
}

TEST(Vgg16, ClassifierSizesTheHeadFromTheImage) {
  Generator gen(6);
  auto model = vgg16_classifier(64, HeadOptions{128, 0.3, 4}, gen);
  EXPECT_EQ(model->layer<Dense>("dense")->kernel().shape(), Shape({512 * 4, 128}));
  EXPECT_EQ(model->layer<Dense>("dense_1")->kernel().shape(), Shape({128, 4}));
  EXPECT_THROW(vgg16_classifier(16, HeadOptions{}, gen), Error);
}

}  // namespace
}  // namespace kiln
