// Module: parameter bookkeeping, training mode, freezing, dtype conversion and gradients.
#include "layers/module.h"

#include <gtest/gtest.h>

#include "core/functions.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/sequential.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

std::shared_ptr<Sequential> net(Generator& gen) {
  auto inner = std::make_shared<Sequential>("features");
  inner->add(std::make_shared<Conv2d>("conv", 1, 2, Conv2dConfig::same_relu(3), gen));
  inner->add(std::make_shared<Flatten>("flatten"));
  auto model = std::make_shared<Sequential>("model");
  model->add(inner);
  model->add(std::make_shared<Dropout>("dropout", 0.5, 1));
  model->add(std::make_shared<Dense>("dense", 2 * 4 * 4, 3, Activation::None, gen));
  return model;
}

TEST(Module, ParametersInRegistrationOrder) {
  Generator gen(1);
  auto model = net(gen);
  const auto named = model->named_parameters();
  ASSERT_EQ(named.size(), 4u);
  const auto params = model->parameters();
  for (std::size_t i = 0; i < named.size(); ++i) EXPECT_TRUE(params[i].same(named[i].second));
  EXPECT_EQ(model->parameter_count(), 2 * 1 * 9 + 2 + 32 * 3 + 3);
  EXPECT_EQ(model->children().size(), 3u);
  EXPECT_EQ(model->trainable_parameters().size(), 4u);
}

TEST(Module, TrainAndEvalReachEveryLayer) {
  Generator gen(2);
  auto model = net(gen);
  EXPECT_TRUE(model->layer("dropout")->is_training());
  model->eval();
  EXPECT_FALSE(model->is_training());
  EXPECT_FALSE(model->layer("dropout")->is_training());
  EXPECT_FALSE(model->layer("conv")->is_training());
  model->train();
  EXPECT_TRUE(model->layer("conv")->is_training());
}

TEST(Module, FreezingStopsGradientsAndDropsStaleOnes) {
  Generator gen(3);
  auto model = net(gen);
  const Tensor x = Tensor::uniform(Shape{2, 1, 4, 4}, -1, 1, gen);
  sum((*model)(x)).backward();
  auto conv = model->layer<Conv2d>("conv");
  ASSERT_TRUE(conv->kernel().grad().defined());

  model->layer("features")->set_trainable(false);
  EXPECT_FALSE(conv->kernel().grad().defined());  // a stale gradient would be applied
  EXPECT_EQ(model->trainable_parameters().size(), 2u);
  model->zero_grad();
  // The frozen features no longer record: their output has no graph at all.
  const Tensor features = (*model->layer("features"))(x);
  EXPECT_EQ(features.grad_fn(), nullptr);
  sum((*model)(x)).backward();
  EXPECT_FALSE(conv->kernel().grad().defined());
  EXPECT_TRUE(model->layer<Dense>("dense")->kernel().grad().defined());

  model->set_trainable(true);
  EXPECT_EQ(model->trainable_parameters().size(), 4u);
}

TEST(Module, ZeroGradDropsEveryGradient) {
  Generator gen(4);
  auto model = net(gen);
  sum((*model)(Tensor::ones(Shape{1, 1, 4, 4}))).backward();
  model->zero_grad();
  for (const Tensor& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, ToDtypeConvertsInPlaceKeepingHandlesAndFlags) {
  Generator gen(5);
  auto model = net(gen);
  model->layer("features")->set_trainable(false);
  auto conv = model->layer<Conv2d>("conv");
  const Tensor held = conv->kernel();  // e.g. an optimiser's handle
  const std::vector<double> before = held.to_double_vector();

  model->to(DType::Float64);
  for (const Tensor& p : model->parameters()) EXPECT_EQ(p.dtype(), DType::Float64);
  EXPECT_EQ(held.dtype(), DType::Float64);
  EXPECT_TRUE(held.same(conv->kernel()));
  EXPECT_EQ(held.to_double_vector(), before);  // float -> double is exact
  EXPECT_FALSE(conv->kernel().requires_grad());
  EXPECT_TRUE(model->layer<Dense>("dense")->kernel().requires_grad());

  const Tensor y = (*model)(Tensor::ones(Shape{2, 1, 4, 4}, DType::Float64));
  EXPECT_EQ(y.dtype(), DType::Float64);
  model->to(DType::Float32);
  EXPECT_EQ(held.dtype(), DType::Float32);
  EXPECT_EQ(held.to_double_vector(), before);
}

// A layer with a buffer (state it updates itself): the buffer follows every conversion, is never
// trained nor unfrozen, counts as Keras counts weights, and shares the parameters' namespace.
class Counter : public Module {
 public:
  Counter() : Module("counter") {
    scale_ = register_parameter("scale", Tensor::ones(Shape{2}));
    seen_ = register_buffer("seen", Tensor::zeros(Shape{3}));
  }
  Tensor forward(const Tensor& x) override { return x; }
  void register_twice() { register_buffer("scale", Tensor::zeros(Shape{1})); }
  Tensor scale_, seen_;
};

TEST(Module, BuffersFollowConversionsButAreNeverTrained) {
  Counter m;
  EXPECT_EQ(m.named_parameters().size(), 1u);
  ASSERT_EQ(m.named_buffers().size(), 1u);
  EXPECT_EQ(m.named_buffers()[0].first, "counter/seen");
  EXPECT_EQ(m.parameter_count(), 5);
  EXPECT_EQ(m.state().size(), 2u);
  EXPECT_FALSE(m.seen_.requires_grad());
  m.set_trainable(true);
  EXPECT_FALSE(m.seen_.requires_grad());
  EXPECT_EQ(m.trainable_parameters().size(), 1u);
  m.to(DType::Float64);
  EXPECT_EQ(m.seen_.dtype(), DType::Float64);
  EXPECT_TRUE(m.seen_.same(m.named_buffers()[0].second));
  EXPECT_EQ(test::error_of([&] { m.register_twice(); }), "counter: 'scale' registered twice");
}

}  // namespace
}  // namespace kiln
