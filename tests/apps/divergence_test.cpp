// Divergence (apps/cifar10/divergence.h). The diagnosis on a small model whose weights and inputs
// the test poisons; then the binary: a diverging run (--lr 10 on a good checkpoint: after one
// Adam step every weight has moved by about 10, and the activations overflow float within a
// step) stops at once with exit status 3 and one line naming the epoch, the step and the layer,
// and leaves the last good epoch's files untouched; --allow-nan trains on through it.
#include "apps/cifar10/divergence.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "apps/cifar10/model_file.h"
#include "core/functions.h"
#include "layers/dense.h"
#include "tests/apps/child_process.h"

namespace kiln::test {
namespace {

TEST(Divergence, NamesTheLayerNearestTheOutputWithNonFiniteWeightsElseTheFirstNonFiniteOutput) {
  Generator gen(5);
  Sequential model;
  const auto dense = model.add(std::make_shared<Dense>("dense", 4, 3, Activation::ReLU, gen));
  const auto dense_1 = model.add(std::make_shared<Dense>("dense_1", 3, 2, Activation::None, gen));
  const Tensor x = Tensor::uniform({2, 4}, -1, 1, gen);
  const Tensor labels = Tensor::from_vector<std::int32_t>({2}, {0, 1});
  const auto loss = [&](const Tensor& in) { return softmax_cross_entropy(model(in), labels); };
  EXPECT_EQ(app::non_finite_weights(model), "");
  EXPECT_EQ(app::non_finite_loss(model, x, loss(x)), "");

  Tensor poisoned_input = x.clone();
  poisoned_input.data<float>()[0] = INFINITY;
  EXPECT_EQ(app::non_finite_loss(model, poisoned_input, loss(poisoned_input)),
            "the loss is not finite (nan; the first layer whose output is not finite: dense)");

  Tensor kernel = dense->kernel();
  kernel.data<float>()[1] = NAN;
  EXPECT_EQ(app::non_finite_weights(model), "the weights of dense (dense/kernel) are not finite");
  Tensor bias = dense_1->bias();
  bias.data<float>()[0] = -INFINITY;
  EXPECT_EQ(app::non_finite_weights(model),
            "the weights of dense_1 (dense_1/bias) are not finite");  // nearest the output
  EXPECT_EQ(app::non_finite_loss(model, x, loss(x)),
            "the loss is not finite (nan; the weights of dense_1 (dense_1/bias) are not finite: "
            "its gradient went non-finite in the previous step)");
  // Frozen weights are never updated, so never checked.
  model.set_trainable(false);
  EXPECT_EQ(app::non_finite_weights(model), "");
}

TEST(Divergence, ANonFiniteStepStopsTrainingAndKeepsTheLastGoodEpoch) {
  TempFolder dir;
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(16, 3));
  write_bytes(dir.file("data/test_batch.bin"), cifar_records(8, 4));
  AppRun run = run_cifar10(dir,
                           "train --data data --weights none --fine-tune --epochs 1 "
                           "--batch-size 8 --no-augment");
  ASSERT_EQ(run.status, 0) << run.err;
  const char* const outputs[] = {"models/best.h5", "models/last.h5", "models/history.csv"};
  std::vector<std::vector<std::uint8_t>> before;
  for (const char* f : outputs) before.push_back(read_bytes(dir.file(f)));

  run = run_cifar10(dir, "train --resume --epochs 3 --lr 10");
  EXPECT_EQ(run.status, 3) << run.out << run.err;
  const std::vector<std::string> lines = lines_of(run.err);
  ASSERT_EQ(lines.size(), 1u) << run.err;
  std::smatch m;
  const std::regex said(
      "cifar10: training diverged at epoch 2, step ([12]) of 2: the loss is not finite "
      "\\((nan|inf|-inf); (the first layer whose output is not finite: (\\w+)|the weights of "
      "(\\w+) .*)\\); nothing saved from this epoch, models/last.h5 holds epoch 1 \\(.*\\)");
  ASSERT_TRUE(std::regex_match(lines[0], m, said)) << lines[0];
  const std::string layer = m[4].matched ? m[4].str() : m[5].str();
  Generator init(1);
  std::vector<std::string> layers;
  for (const auto& l : app::leaf_layers(*app::build_classifier(app::ModelConfig{}, init))) {
    layers.push_back(l->name());
  }
  EXPECT_NE(std::find(layers.begin(), layers.end(), layer), layers.end()) << layer;
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(read_bytes(dir.file(outputs[i])), before[i]) << outputs[i] << " changed";
  }

  // --allow-nan: a warning, and the epoch is trained and saved.
  run = run_cifar10(dir, "train --resume --epochs 2 --lr 10 --allow-nan");
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "warning: epoch 2, step ");
  EXPECT_CONTAINS(run.out, "training on (--allow-nan)");
  EXPECT_EQ(lines_of(text_file(dir.file("models/history.csv"))).size(), 3u);
}

}  // namespace
}  // namespace kiln::test
