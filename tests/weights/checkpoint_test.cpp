// weights/checkpoint.h: a checkpoint restores model, optimiser and training state exactly, so a
// run resumed from it continues bit for bit as the uninterrupted run; and it is a Keras weights
// file as well.
#include "weights/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "core/functions.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"
#include "weights/keras_weights.h"
#include "weights/model_weights.h"

namespace kiln {
namespace {

using test::error_of;
using test::ScratchDir;

// conv -> pool -> flatten (2x2 map) -> dense -> dropout -> dense_1: every kind of state a run has.
std::shared_ptr<Sequential> tiny_model(std::uint64_t seed) {
  Generator gen(seed);
  auto m = std::make_shared<Sequential>("tiny");
  m->add(std::make_shared<Conv2d>("conv", 1, 3, Conv2dConfig::same_relu(3), gen));
  m->add(std::make_shared<MaxPool2d>("pool"));
  m->add(std::make_shared<Flatten>("flatten", MapShape{3, 2, 2}));
  m->add(std::make_shared<Dense>("dense", 12, 6, Activation::ReLU, gen));
  m->add(std::make_shared<Dropout>("dropout", 0.25, 99));
  m->add(std::make_shared<Dense>("dense_1", 6, 3, Activation::None, gen));
  return m;
}

Dropout& dropout_of(Sequential& m) { return *m.layer<Dropout>("dropout"); }

struct Batch {
  Tensor x;  // (8, 1, 4, 4)
  Tensor y;  // (8) int32
};
Batch batch() {
  std::vector<float> x = test::ramp(8 * 16, 0.9f);
  std::vector<std::int32_t> y = {0, 1, 2, 0, 1, 2, 0, 1};
  return {Tensor::from_vector(Shape{8, 1, 4, 4}, x), Tensor::from_vector(Shape{8}, y)};
}

void train(Sequential& model, Optimizer& opt, int steps) {
  const Batch b = batch();
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    softmax_cross_entropy(model(b.x), b.y).backward();
    opt.step();
  }
}

std::vector<std::vector<double>> values(const std::vector<Tensor>& tensors) {
  std::vector<std::vector<double>> out;
  for (const Tensor& t : tensors)
    out.push_back(t.defined() ? t.to_double_vector() : std::vector<double>{});
  return out;
}

std::vector<Tensor> moments(const Adam& adam, bool second) {
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < adam.params().size(); ++i) {
    out.push_back(second ? adam.second_moment(i) : adam.first_moment(i));
  }
  return out;
}

TrainingState sample_state(Sequential& model) {
  TrainingState s;
  s.epoch = 4;
  s.best_metric = 0.123456789012345;
  s.epochs_without_improvement = 2;
  Dropout& d = dropout_of(model);
  s.rng_states = {{"dropout", {d.generator().seed(), d.generator().offset()}},
                  {"shuffle", {0xFFFFFFFFFFFFFFFFull, 12345}}};
  s.notes = {{"monitor", "val_loss"}, {"command", "cifar10 train --epochs 10"}};
  return s;
}

AdamOptions adam_options() {
  AdamOptions o;
  o.lr = 0.01;
  return o;
}

TEST(Checkpoint, RoundTripRestoresWeightsMomentsStepsAndState) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto a = tiny_model(1);
  Adam adam_a(a->parameters(), adam_options());
  // The first step updates only the last layer (the rest frozen), so the other moments are
  // "not yet updated" when saved, and must come back that way.
  a->set_trainable(false);
  a->layer("dense_1")->set_trainable(true);
  train(*a, adam_a, 1);
  a->set_trainable(true);
  adam_a.set_learning_rate(0.005);
  const TrainingState state = sample_state(*a);
  save_checkpoint(path, *a, adam_a, state);

  auto b = tiny_model(2);
  Adam adam_b(b->parameters(), adam_options());
  const TrainingState got = load_checkpoint(path, *b, adam_b);
  EXPECT_EQ(values(b->parameters()), values(a->parameters()));
  EXPECT_EQ(values(moments(adam_b, false)), values(moments(adam_a, false)));
  EXPECT_EQ(values(moments(adam_b, true)), values(moments(adam_a, true)));
  EXPECT_FALSE(adam_b.first_moment(0).defined());  // conv kernel: never updated
  EXPECT_TRUE(adam_b.first_moment(adam_b.params().size() - 1).defined());
  EXPECT_EQ(adam_b.step_count(), 1);
  EXPECT_EQ(adam_b.learning_rate(), 0.005);
  EXPECT_EQ(got.epoch, 4);
  EXPECT_EQ(got.best_metric, state.best_metric);
  EXPECT_EQ(got.epochs_without_improvement, 2);
  EXPECT_EQ(got.rng_states, state.rng_states);
  EXPECT_EQ(got.notes, state.notes);
}

TEST(Checkpoint, DefaultStateRoundTripsItsNaNAndEmptyLists) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto a = tiny_model(1);
  Adam adam(a->parameters());
  save_checkpoint(path, *a, adam, TrainingState{});
  const TrainingState got = load_checkpoint(path, *a, adam);
  EXPECT_TRUE(std::isnan(got.best_metric));
  EXPECT_TRUE(got.rng_states.empty());
  EXPECT_TRUE(got.notes.empty());
}

// Train 6 steps straight, or 3, checkpoint, then 3 more in a fresh process-like setting (a new
// model with other initial weights, a new optimiser, the dropout stream restored): identical.
TEST(Checkpoint, ResumedTrainingEqualsUninterruptedTraining) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto straight = tiny_model(1);
  Adam adam_straight(straight->parameters(), adam_options());
  train(*straight, adam_straight, 6);

  auto first = tiny_model(1);
  Adam adam_first(first->parameters(), adam_options());
  train(*first, adam_first, 3);
  save_checkpoint(path, *first, adam_first, sample_state(*first));

  auto resumed = tiny_model(7);
  Adam adam_resumed(resumed->parameters(), adam_options());
  const TrainingState state = load_checkpoint(path, *resumed, adam_resumed);
  ASSERT_EQ(state.rng_states[0].first, "dropout");
  dropout_of(*resumed).generator().set_state(state.rng_states[0].second.first,
                                             state.rng_states[0].second.second);
  train(*resumed, adam_resumed, 3);

  EXPECT_EQ(adam_resumed.step_count(), 6);
  EXPECT_EQ(values(resumed->parameters()), values(straight->parameters()));
  EXPECT_EQ(values(moments(adam_resumed, true)), values(moments(adam_straight, true)));
}

TEST(Checkpoint, IsAKerasWeightsFileToo) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto a = tiny_model(1);
  Adam adam(a->parameters(), adam_options());
  train(*a, adam, 2);
  save_checkpoint(path, *a, adam, sample_state(*a));

  EXPECT_EQ(test::read_raw_attr(path, "/", "layer_names").strings,
            (std::vector<std::string>{"conv", "pool", "flatten", "dense", "dropout", "dense_1"}));
  EXPECT_TRUE(test::read_raw_dataset(path, "/conv/conv/kernel:0").found);
  EXPECT_TRUE(test::read_raw_dataset(path, "/kiln_training/optimizer/m/conv/kernel").found);

  auto b = tiny_model(3);
  const LoadReport report = load_weights(path, *b);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"conv", "dense", "dense_1"}));
  EXPECT_TRUE(report.unused.empty());
  EXPECT_EQ(values(b->parameters()), values(a->parameters()));
}

TEST(Checkpoint, SgdMomentumRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.file("sgd.h5");
  SgdOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  auto a = tiny_model(1);
  Sgd sgd_a(a->parameters(), o);
  train(*a, sgd_a, 2);
  save_checkpoint(path, *a, sgd_a, TrainingState{});
  auto b = tiny_model(2);
  Sgd sgd_b(b->parameters(), o);
  load_checkpoint(path, *b, sgd_b);
  for (std::size_t i = 0; i < sgd_a.params().size(); ++i) {
    EXPECT_EQ(sgd_b.momentum_buffer(i).to_double_vector(),
              sgd_a.momentum_buffer(i).to_double_vector());
  }
  EXPECT_EQ(sgd_b.step_count(), 2);
}

TEST(Checkpoint, ErrorsNameTheFileAndWhatDiffersAndChangeNothing) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto a = tiny_model(1);
  Adam adam_a(a->parameters(), adam_options());
  train(*a, adam_a, 1);
  save_checkpoint(path, *a, adam_a, TrainingState{});

  auto b = tiny_model(2);
  const auto before = values(b->parameters());

  const std::string plain = dir.file("plain.h5");
  save_weights(plain, *a);
  Adam adam_b(b->parameters(), adam_options());
  EXPECT_EQ(error_of([&] { load_checkpoint(plain, *b, adam_b); }),
            plain +
                ": not a Kiln checkpoint (no kiln_training group); a plain weights file loads "
                "with load_weights");

  Sgd sgd(b->parameters());
  EXPECT_EQ(error_of([&] { load_checkpoint(path, *b, sgd); }),
            path + ": the checkpoint's optimiser is adam, not sgd");

  AdamOptions other = adam_options();
  other.beta2 = 0.99;
  Adam adam_other(b->parameters(), other);
  std::string msg = error_of([&] { load_checkpoint(path, *b, adam_other); });
  EXPECT_NE(
      msg.find(path + ": the checkpoint's adam has beta2 = 0.999 but this optimiser has 0.99"),
      std::string::npos)
      << msg;

  Adam head_only(b->layer("dense_1")->parameters(), adam_options());
  msg = error_of([&] { load_checkpoint(path, *b, head_only); });
  EXPECT_NE(msg.find(path + ": the checkpoint's optimiser also updated 'conv/kernel'"),
            std::string::npos)
      << msg;

  // A model with another layer: the weights do not fit, so nothing at all is restored.
  Generator gen(5);
  Sequential c("c");
  c.add(std::make_shared<Conv2d>("conv", 1, 3, Conv2dConfig::same_relu(3), gen));
  c.add(std::make_shared<Dense>("other", 12, 6, Activation::ReLU, gen));
  Adam adam_c(c.parameters(), adam_options());
  msg = error_of([&] { load_checkpoint(path, c, adam_c); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_EQ(adam_c.step_count(), 0);

  EXPECT_EQ(values(b->parameters()), before);
  EXPECT_EQ(adam_b.step_count(), 0);
  EXPECT_FALSE(adam_b.first_moment(0).defined());
}

TEST(Checkpoint, FailedSaveKeepsThePreviousCheckpoint) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.h5");
  auto a = tiny_model(1);
  Adam adam(a->parameters(), adam_options());
  save_checkpoint(path, *a, adam, TrainingState{});
  const std::vector<char> before = test::file_bytes(path);
  std::filesystem::create_directory(path + ".tmp-" + std::to_string(::getpid()));
  train(*a, adam, 1);
  EXPECT_THROW(save_checkpoint(path, *a, adam, TrainingState{}), Error);
  EXPECT_EQ(test::file_bytes(path), before);
}

}  // namespace
}  // namespace kiln
