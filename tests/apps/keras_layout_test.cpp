// train --keras-layout: best.h5 in Keras' nested legacy layout (the base as one layer "vgg16",
// as Keras saves Sequential([VGG16(include_top=False), Flatten(), Dense, Dropout, Dense])) or
// flat (one functional model). Checked against what Keras' legacy loader requires: layer_names,
// and the count of layers with weights, which it matches by order; then Kiln reads both back and
// predicts bit for bit what the model it saved predicts.
#include <gtest/gtest.h>

#include "apps/cifar10/device.h"
#include "apps/cifar10/model_file.h"
#include "core/autograd.h"
#include "tests/apps/app_runner.h"
#include "tests/weights/keras_files.h"
#include "weights/keras_weights.h"

namespace kiln::test {
namespace {

std::shared_ptr<Sequential> classifier() {
  Generator init(5);
  auto model = app::build_classifier(app::ModelConfig{}, init);
  model->eval();
  return model;
}

std::vector<float> logits(Module& model) {
  Generator gen(9);
  const Tensor x = Tensor::uniform(Shape{2, 3, 32, 32}, -100, 100, gen);
  NoGradGuard no_grad;
  return model(app::on_compute_device(x)).to_vector<float>();
}

// Layers with a non-empty weight_names: what Keras' loader counts and matches by order.
std::vector<std::string> layers_with_weights(const std::string& path) {
  std::vector<std::string> out;
  for (const std::string& name : read_raw_attr(path, "/", "layer_names").strings) {
    if (read_raw_attr(path, "/" + name, "weight_names").count > 0) out.push_back(name);
  }
  return out;
}

TEST(KerasLayout, NestedAndFlatFilesReadBackToTheSamePredictions) {
  TempFolder dir;
  auto model = classifier();
  const std::vector<float> want = logits(*model);
  const std::string nested = dir.file("nested.h5"), flat = dir.file("flat.h5");
  app::save_model_file(nested, *model, {}, {}, app::KerasLayout::Nested);
  app::save_model_file(flat, *model, {}, {}, app::KerasLayout::Flat);

  // Keras' Sequential([vgg16, flatten, dense, dropout, dense_1]): 3 layers with weights.
  EXPECT_EQ(read_raw_attr(nested, "/", "layer_names").strings,
            (std::vector<std::string>{"vgg16", "flatten", "dense", "dropout", "dense_1"}));
  EXPECT_EQ(layers_with_weights(nested), (std::vector<std::string>{"vgg16", "dense", "dense_1"}));
  const std::vector<std::string> inner = read_raw_attr(nested, "/vgg16", "weight_names").strings;
  ASSERT_EQ(inner.size(), 26u);
  EXPECT_EQ(inner[0], "block1_conv1/kernel:0");
  EXPECT_EQ(inner[1], "block1_conv1/bias:0");
  EXPECT_EQ(inner[25], "block5_conv3/bias:0");
  const RawDataset k = read_raw_dataset(nested, "/vgg16/block1_conv1/kernel:0");
  ASSERT_TRUE(k.found);
  EXPECT_EQ(k.shape, (std::vector<std::int64_t>{3, 3, 3, 64}));  // HWIO
  EXPECT_EQ(read_raw_dataset(nested, "/dense/dense/kernel:0").shape,
            (std::vector<std::int64_t>{512, 256}));

  // One functional model: 13 convolutions and 2 dense layers with weights.
  EXPECT_EQ(layers_with_weights(flat).size(), 15u);
  EXPECT_EQ(read_raw_attr(flat, "/", "layer_names").strings.at(0), "block1_conv1");

  for (const std::string& path : {nested, flat}) {
    SCOPED_TRACE(path);
    const app::LoadedModel loaded = app::load_model_file(path);
    EXPECT_EQ(loaded.config.hidden, 256);
    EXPECT_EQ(logits(*loaded.model), want);  // bit for bit
  }
}

// A head Keras named dense_2 and dense_3 (the second model built in a session), nested or flat:
// found by order, as Keras' own legacy loader finds layers.
TEST(KerasLayout, AHeadNamedByALaterKerasSessionLoadsToo) {
  TempFolder dir;
  auto model = classifier();
  const std::vector<float> want = logits(*model);
  for (const app::KerasLayout layout : {app::KerasLayout::Nested, app::KerasLayout::Flat}) {
    const std::string kiln = dir.file("kiln.h5"), keras = dir.file("renamed.h5");
    app::save_model_file(kiln, *model, {}, {}, layout);
    KerasWeights w = read_keras_weights(kiln);
    for (KerasLayer& l : w.layers) {
      const std::string to = l.name == "dense" ? "dense_2" : l.name == "dense_1" ? "dense_3" : "";
      if (to.empty()) continue;
      for (KerasWeight& weight : l.weights) weight.name = to + weight.name.substr(l.name.size());
      l.name = to;
    }
    write_keras_weights(keras, w);
    ASSERT_EQ(layers_with_weights(keras).back(), "dense_3");
    const app::LoadedModel loaded = app::load_model_file(keras);
    EXPECT_EQ(loaded.config.hidden, 256);
    EXPECT_EQ(logits(*loaded.model), want);  // bit for bit
  }
}

// Keras 3's own layout, keyed as saving_lib keys Sequential([VGG16 base, Flatten, Dense,
// Dropout, Dense]) (nested) or one functional model (flat).
TEST(KerasLayout, Keras3WeightsFilesReadBackToTheSamePredictions) {
  TempFolder dir;
  auto model = classifier();
  const std::vector<float> want = logits(*model);
  const std::string nested = dir.file("nested.weights.h5"), flat = dir.file("flat.weights.h5");
  app::save_model_file(nested, *model, {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, {},
                       app::KerasLayout::Nested);
  app::save_model_file(flat, *model, {}, {}, app::KerasLayout::Flat);

  EXPECT_EQ(raw_children(nested, "/"), (std::vector<std::string>{"layers", "vars"}));
  EXPECT_EQ(raw_children(nested, "/layers"),
            (std::vector<std::string>{"dense", "dense_1", "dropout", "flatten", "functional"}));
  const std::vector<std::string> base = raw_children(nested, "/layers/functional/layers");
  EXPECT_EQ(base.size(), 1u + 13u + 5u);  // input_layer, 13 convolutions, 5 pools
  EXPECT_EQ(read_raw_dataset(nested, "/layers/functional/layers/conv2d_12/vars/0").shape,
            (std::vector<std::int64_t>{3, 3, 512, 512}));
  EXPECT_EQ(read_raw_dataset(nested, "/layers/dense/vars/0").shape,
            (std::vector<std::int64_t>{512, 256}));
  EXPECT_EQ(read_raw_dataset(nested, "/layers/dense_1/vars/1").shape,
            (std::vector<std::int64_t>{10}));
  EXPECT_EQ(read_raw_attr(nested, "/layers/functional/vars", "name").strings,
            std::vector<std::string>{"vgg16"});
  EXPECT_EQ(read_raw_attr(nested, "/layers/functional/layers/conv2d_1/vars", "name").strings,
            std::vector<std::string>{"block1_conv2"});
  EXPECT_TRUE(raw_children(nested, "/layers/functional/layers/max_pooling2d_4/vars").empty());

  const std::vector<std::string> top = raw_children(flat, "/layers");
  EXPECT_EQ(top.size(), 1u + 13u + 5u + 4u);
  EXPECT_NE(std::find(top.begin(), top.end(), "input_layer"), top.end());
  EXPECT_EQ(read_raw_dataset(flat, "/layers/conv2d_12/vars/0").shape,
            (std::vector<std::int64_t>{3, 3, 512, 512}));

  for (const std::string& path : {nested, flat}) {
    SCOPED_TRACE(path);
    const app::LoadedModel loaded = app::load_model_file(path);
    EXPECT_EQ(logits(*loaded.model), want);  // bit for bit
  }
  EXPECT_EQ(app::load_model_file(nested).class_names.at(3), "d");
}

TEST(KerasLayout, TrainWritesTheLayoutAsked) {
  TempFolder dir;
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(16, 1));
  write_bytes(dir.file("data/test_batch.bin"), cifar_records(8, 2));
  const std::string common = "train --data data --weights none --epochs 1 --batch-size 8 ";
  AppRun run = run_cifar10(dir, common + "--out-dir a");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(read_raw_attr(dir.file("a/best.h5"), "/", "layer_names").strings.at(0), "vgg16");
  run = run_cifar10(dir, common + "--out-dir b --keras-layout flat");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(read_raw_attr(dir.file("b/best.h5"), "/", "layer_names").strings.at(0), "block1_conv1");
  run = run_cifar10(dir, common + "--out-dir c --save-format weights.h5");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("c/best.h5")));
  EXPECT_EQ(raw_children(dir.file("c/best.weights.h5"), "/layers").back(), "functional");
  for (const char* model : {"a/best.h5", "b/best.h5", "c/best.weights.h5"}) {
    run = run_cifar10(dir, std::string("evaluate --model ") + model + " --data data");
    EXPECT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.out.find("airplane"), std::string::npos) << run.out;
  }
  run = run_cifar10(dir, common + "--keras-layout deep");
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.err.find("--keras-layout: expected nested or flat, got 'deep'"), std::string::npos)
      << run.err;
  run = run_cifar10(dir, common + "--save-format zip");
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.err.find("--save-format: expected h5, weights.h5 or keras, got 'zip'"),
            std::string::npos)
      << run.err;
}

}  // namespace
}  // namespace kiln::test
