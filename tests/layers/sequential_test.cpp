// Sequential: chaining, lookup by name, Keras parameter names, and a small conv net's gradients in
// float64 through every layer at once.
#include "layers/sequential.h"

#include <gtest/gtest.h>

#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/relu.h"
#include "tests/layers/layer_gradcheck.h"

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

TEST(Sequential, GradcheckConvPoolFlattenDense) {
  Generator gen(1);
  auto net = small_net(gen);
  EXPECT_EQ(test::checked_tensors(*net), 5u);  // input, conv kernel+bias, dense kernel+bias
  EXPECT_GRADCHECK(test::gradcheck_layer(*net, Shape{2, 2, 6, 6}));
}

TEST(Sequential, ChainsLayersInOrder) {
  Generator gen(2);
  auto net = small_net(gen);
  Tensor x = Tensor::uniform(Shape{4, 2, 6, 6}, -1, 1, gen);
  Tensor by_hand = x;
  for (const auto& layer : net->layers()) by_hand = (*layer)(by_hand);
  const Tensor y = (*net)(x);
  EXPECT_EQ(y.shape(), Shape({4, 3}));
  EXPECT_EQ(y.to_double_vector(), by_hand.to_double_vector());
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
