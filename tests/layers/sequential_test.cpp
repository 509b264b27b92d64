// Sequential: chaining and a small conv net's gradients through every layer at once (with and
// without a BatchNorm2d) on every device; lookup by name and Keras parameter names.
#include "layers/sequential.h"

#include <gtest/gtest.h>

#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/relu.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/layers/layer_on_devices.h"

namespace kiln {
namespace {

// conv (3x3 same, relu) -> pool -> flatten -> dense: (N, 2, 6, 6) -> (N, 3).
std::shared_ptr<Sequential> small_net(Generator& gen) {
  auto net = std::make_shared<Sequential>("net");
  net->add(std::make_shared<Conv2d>("conv", 2, 3, Conv2dConfig::same_relu(3), gen));
  net->add(std::make_shared<MaxPool2d>("pool"));
  net->add(std::make_shared<Flatten>("flatten"));
  net->add(std::make_shared<Dense>("dense", 3 * 3 * 3, 3, Activation::None, gen));
  return net;
}

// The same with a BatchNorm2d after the convolution, in training mode (batch statistics).
std::shared_ptr<Sequential> small_bn_net(Generator& gen) {
  auto net = std::make_shared<Sequential>("net");
  net->add(std::make_shared<Conv2d>("conv", 2, 3, Conv2dConfig::same_relu(3), gen));
  net->add(std::make_shared<BatchNorm2d>("bn", 3));
  net->add(std::make_shared<MaxPool2d>("pool"));
  net->add(std::make_shared<Flatten>("flatten"));
  net->add(std::make_shared<Dense>("dense", 3 * 3 * 3, 3, Activation::None, gen));
  return net;
}

// Containers on every device (tests/support/devices.h): every layer's gradients at once.
template <typename D>
class SequentialOn : public test::OnEveryDevice<D> {};
TYPED_TEST_SUITE(SequentialOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(SequentialOn, GradientsThroughConvPoolFlattenDense) {
  Generator gen(1);
  EXPECT_EQ(test::checked_tensors(*small_net(gen)), 5u);  // input, conv and dense kernel + bias
  test::expect_layer_gradients_on<TypeParam>(
      [] {
        Generator g(1);
        return small_net(g);
      },
      Shape{2, 2, 6, 6});
}

TYPED_TEST(SequentialOn, GradientsThroughABatchNormInTraining) {
  test::expect_layer_gradients_on<TypeParam>(
      [] {
        Generator g(2);
        return small_bn_net(g);
      },
      Shape{4, 2, 6, 6});
}

TYPED_TEST(SequentialOn, ChainsLayersInOrder) {
  Generator gen(2);
  auto net = small_net(gen);
  net->to(TypeParam::kDType);
  net->to(TypeParam::kDevice);
  Tensor x = TestFixture::here(Tensor::uniform(Shape{4, 2, 6, 6}, -1, 1, gen));
  Tensor by_hand = x;
  for (const auto& layer : net->layers()) by_hand = (*layer)(by_hand);
  const Tensor y = (*net)(x);
  EXPECT_EQ(y.shape(), Shape({4, 3}));
  EXPECT_EQ(y.device(), TypeParam::kDevice);
  EXPECT_EQ(TestFixture::values(y), TestFixture::values(by_hand));
}

TEST(Sequential, EmptyIsIdentity) {
  Sequential empty;
  const Tensor x = Tensor::ones(Shape{2, 3});
  EXPECT_TRUE(empty(x).same(x));
}

TEST(Sequential, NamesAreTheLayersNotTheContainer) {
  Generator gen(3);
  auto net = small_net(gen);
  std::vector<std::string> names;
  for (const auto& [name, t] : net->named_parameters()) names.push_back(name);
  EXPECT_EQ(names,
            std::vector<std::string>({"conv/kernel", "conv/bias", "dense/kernel", "dense/bias"}));
  // Nesting adds no prefix either.
  auto outer = std::make_shared<Sequential>("outer");
  outer->add(net);
  outer->add(std::make_shared<ReLU>("relu"));
  EXPECT_EQ(outer->named_parameters().size(), 4u);
  EXPECT_EQ(outer->named_parameters()[0].first, "conv/kernel");
}

TEST(Sequential, FindsLayersByNameAtAnyDepth) {
  Generator gen(4);
  auto outer = std::make_shared<Sequential>("outer");
  outer->add(small_net(gen));
  EXPECT_EQ(outer->layer("net")->name(), "net");
  auto dense = outer->layer<Dense>("dense");
  EXPECT_EQ(dense->out_features(), 3);
  EXPECT_EQ(outer->find("missing"), nullptr);
  try {
    outer->layer("missing");
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
  }
  EXPECT_THROW(outer->layer<Conv2d>("dense"), Error);
}

TEST(Sequential, RefusesDuplicateNames) {
  Generator gen(5);
  auto net = small_net(gen);
  EXPECT_THROW(net->add(std::make_shared<ReLU>("conv")), Error);
  auto outer = std::make_shared<Sequential>("outer");
  outer->add(std::make_shared<ReLU>("pool"));
  EXPECT_THROW(outer->add(net), Error);  // net holds another "pool"
  EXPECT_THROW(outer->add(std::shared_ptr<Module>()), Error);
}

TEST(Sequential, AddReturnsTheTypedLayer) {
  Generator gen(6);
  Sequential net;
  std::shared_ptr<Dense> dense = net.add(std::make_shared<Dense>("d", 2, 2, Activation::None, gen));
  EXPECT_TRUE(dense->kernel().same(net.named_parameters()[0].second));
}

}  // namespace
}  // namespace kiln
