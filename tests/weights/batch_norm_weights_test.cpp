// BatchNorm2d through the generic state walk (Module::named_state()): its parameters and its
// buffers reach every file Kiln writes under Keras' names, in Keras' order, and come back: the
// tf.keras 2 layout (flat and nested), the Keras 3 .weights.h5 layout, and checkpoints. The files
// are read back by the tests' own HDF5 reader (keras_files.h) as well as by Kiln's loader.
#include <gtest/gtest.h>

#include "core/functions.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "tests/weights/keras_files.h"
#include "weights/checkpoint.h"
#include "weights/hdf5.h"
#include "weights/keras3_weights.h"
#include "weights/model_weights.h"

namespace kiln {
namespace {

using test::ScratchDir;

// conv -> bn -> relu -> conv_1 -> bn_1 (frozen) -> flatten -> dense, in a "base" and a "head".
// Every state tensor is set from `seed`, so two models of different seeds differ everywhere.
std::shared_ptr<Sequential> model(std::uint64_t seed) {
  Generator gen(seed);
  auto base = std::make_shared<Sequential>("base");
  base->add(std::make_shared<Conv2d>("conv", 2, 3, Conv2dConfig::same_relu(3), gen));
  base->add(std::make_shared<BatchNorm2d>("bn", 3));
  base->add(std::make_shared<ReLU>("relu"));
  base->add(std::make_shared<Conv2d>("conv_1", 3, 3, Conv2dConfig::same_relu(3), gen));
  auto frozen = std::make_shared<BatchNorm2d>("bn_1", 3);
  frozen->set_trainable(false);
  base->add(frozen);
  auto head = std::make_shared<Sequential>("head");
  head->add(std::make_shared<Flatten>("flatten", MapShape{3, 2, 2}));
  head->add(std::make_shared<Dense>("dense", 12, 2, Activation::None, gen));
  auto m = std::make_shared<Sequential>("model");
  m->add(base);
  m->add(head);
  for (Tensor t : m->state()) t.copy_from(Tensor::uniform(t.shape(), 0.5, 1.5, gen));
  return m;
}

std::vector<std::vector<double>> state_values(const Module& m) {
  std::vector<std::vector<double>> out;
  for (const Tensor& t : m.state()) out.push_back(t.to_double_vector());
  return out;
}

std::vector<float> floats(const Tensor& t) {
  std::vector<float> out;
  for (double v : t.to_double_vector()) out.push_back(static_cast<float>(v));
  return out;
}

TEST(BatchNormWeights, Tfkeras2LayoutHoldsKerasNamesAndRoundTripsTheMovingStatistics) {
  ScratchDir dir;
  const std::string path = dir.file("bn.h5");
  auto a = model(1);
  save_weights(path, *a);
  EXPECT_EQ(test::read_raw_attr(path, "/bn", "weight_names").strings,
            (std::vector<std::string>{"bn/gamma:0", "bn/beta:0", "bn/moving_mean:0",
                                      "bn/moving_variance:0"}));
  const auto bn = a->find("bn");
  const auto& moving_var = std::dynamic_pointer_cast<BatchNorm2d>(bn)->moving_variance();
  const test::RawDataset file_var = test::read_raw_dataset(path, "/bn/bn/moving_variance:0");
  ASSERT_TRUE(file_var.found);
  EXPECT_EQ(file_var.shape, std::vector<std::int64_t>{3});
  EXPECT_EQ(file_var.values, floats(moving_var));

  auto b = model(2);
  ASSERT_NE(state_values(*a), state_values(*b));
  const LoadReport report = load_weights(path, *b);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"conv", "bn", "conv_1", "bn_1", "dense"}));
  EXPECT_EQ(state_values(*a), state_values(*b));
}

// Keras lists a nested model's weights trainable first: bn_1 is frozen, so all of its weights,
// and bn's moving statistics, come after every trainable weight.
TEST(BatchNormWeights, NestedLayoutListsTrainableWeightsFirstAsKerasDoes) {
  ScratchDir dir;
  const std::string path = dir.file("nested.h5");
  auto a = model(3);
  write_keras_weights(path, model_to_keras_weights(*a, {"base"}));
  EXPECT_EQ(test::read_raw_attr(path, "/base", "weight_names").strings,
            (std::vector<std::string>{"conv/kernel:0", "conv/bias:0", "bn/gamma:0", "bn/beta:0",
                                      "conv_1/kernel:0", "conv_1/bias:0", "bn/moving_mean:0",
                                      "bn/moving_variance:0", "bn_1/gamma:0", "bn_1/beta:0",
                                      "bn_1/moving_mean:0", "bn_1/moving_variance:0"}));
  auto b = model(4);
  load_weights(path, *b);
  EXPECT_EQ(state_values(*a), state_values(*b));
}

TEST(BatchNormWeights, Keras3LayoutKeysTheLayerByItsClassAndRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.file("bn.weights.h5");
  auto a = model(5);
  write_h5_atomically(path, [&](H5Group& root) {
    write_keras3_weights(root, model_to_keras3_layers(*a, {}), "sequential", {});
  });
  EXPECT_EQ(test::read_raw_attr(path, "/layers/batch_normalization_1/vars", "name").strings,
            std::vector<std::string>{"bn_1"});
  const auto bn1 = std::dynamic_pointer_cast<BatchNorm2d>(a->find("bn_1"));
  EXPECT_EQ(test::read_raw_dataset(path, "/layers/batch_normalization_1/vars/2").values,
            floats(bn1->moving_mean()));
  auto b = model(6);
  load_weights(path, *b);
  EXPECT_EQ(state_values(*a), state_values(*b));
}

TEST(BatchNormWeights, CheckpointResumesTheMovingStatistics) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto a = model(7);
  Adam adam_a(a->trainable_parameters(), AdamOptions{});
  Generator gen(8);
  const Tensor x = Tensor::uniform(Shape{4, 2, 2, 2}, -1, 1, gen);
  const Tensor y = Tensor::from_vector(Shape{4}, std::vector<std::int32_t>{0, 1, 1, 0});
  const auto before = state_values(*a);
  adam_a.zero_grad();
  softmax_cross_entropy((*a)(x), y).backward();
  adam_a.step();
  ASSERT_NE(state_values(*a), before);  // the moving statistics moved with the step
  save_checkpoint(path, *a, adam_a, TrainingState{});

  auto b = model(9);
  Adam adam_b(b->trainable_parameters(), AdamOptions{});
  load_checkpoint(path, *b, adam_b);
  EXPECT_EQ(state_values(*a), state_values(*b));
}

}  // namespace
}  // namespace kiln
