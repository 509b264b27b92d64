// cifar10 on Keras 3 .keras archives. The fixtures are the config.json files Keras 3.15.1 wrote
// for the recipe (tests/weights/keras315_configs.h), zipped here with weights in Keras 3's layout
// through bare libzip and HDF5: the architecture is read from the config (and what Kiln does not
// compute is refused naming the layer), Kiln writes what Keras writes, predictions from a .keras
// equal those from the same weights in Kiln's own .h5 bit for bit, and broken archives fail with
// one line naming the file, exit 1, and write nothing.
#include <gtest/gtest.h>

#include "apps/cifar10/keras_config.h"
#include "apps/cifar10/model_file.h"
#include "tests/apps/app_runner.h"
#include "tests/apps/keras3_layout.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras315_configs.h"
#include "tests/weights/keras_files.h"
#include "tests/weights/zip_files.h"

namespace kiln::test {
namespace {

using J = KerasJson;

constexpr const char* kMetadata =
    R"({"keras_version": "3.15.1", "date_saved": "2026-12-01@11:43:05"})";

J nested_config() { return J::parse(kKeras315NestedConfig); }
J flat_config() { return J::parse(kKeras315FlatConfig); }

// shared_object_id is the id() of a Python object: different in every run, and optional.
J without_shared_ids(J j) {
  if (j.is_object()) {
    j.erase("shared_object_id");
    for (auto& [key, value] : j.items()) value = without_shared_ids(value);
  } else if (j.is_array()) {
    for (J& v : j) v = without_shared_ids(v);
  }
  return j;
}

// A .keras archive as Keras writes it, with `config` and these weights (written by h5py's rules).
void write_keras_file(const std::string& path, const std::string& config,
                      const std::vector<Keras3Layer>& weights) {
  const std::string h5 = path + ".weights-member.h5";
  write_keras3_style(h5, weights, /*with_names=*/true);
  const std::string bytes = text_of(h5);
  std::filesystem::remove(h5);
  write_zip(path,
            {{"metadata.json", kMetadata}, {"config.json", config}, {"model.weights.h5", bytes}});
}

std::string model_error(const J& config) {
  return error_of([&] { app::model_config_from_keras(config, "m.keras/config.json"); });
}

void expect_config(const app::ModelConfig& got, const app::ModelConfig& want) {
  EXPECT_EQ(got.image_size, want.image_size);
  EXPECT_EQ(got.hidden, want.hidden);
  EXPECT_EQ(got.classes, want.classes);
  EXPECT_EQ(got.dropout, want.dropout);
}

TEST(KerasConfig, ReadsTheRecipeFromWhatKeras315Wrote) {
  expect_config(app::model_config_from_keras(nested_config(), "nested"), {32, 256, 10, 0.5});
  expect_config(app::model_config_from_keras(flat_config(), "flat"), {32, 256, 10, 0.5});
  // VGG16(include_top=False) without input_shape takes any size; the Sequential's input says.
  J any = nested_config();
  any["config"]["layers"][1]["config"]["layers"][0]["config"]["batch_shape"] = {nullptr, nullptr,
                                                                                nullptr, 3};
  any["config"]["layers"][0]["config"]["batch_shape"] = {nullptr, 64, 64, 3};
  expect_config(app::model_config_from_keras(any, "any"), {64, 256, 10, 0.5});
}

TEST(KerasConfig, WritesWhatKeras315Writes) {
  EXPECT_EQ(app::keras_config_of({32, 256, 10, 0.5}), without_shared_ids(nested_config()));
}

TEST(KerasConfig, WritesAndReadsOtherSizes) {
  for (const app::ModelConfig c :
       {app::ModelConfig{64, 32, 3, 0.25}, app::ModelConfig{40, 8, 2, 0}}) {
    const J j = app::keras_config_of(c);
    expect_config(app::model_config_from_keras(j, "m"), c);
    EXPECT_EQ(j["config"]["layers"][3]["build_config"]["input_shape"][1],
              512 * (c.image_size / 32) * (c.image_size / 32));
  }
}

// Each change to the real config is refused naming the layer (and what is wrong with it).
TEST(KerasConfig, RefusesWhatKilnsClassifierDoesNotCompute) {
  const auto refused = [](const J& config, const std::vector<std::string>& culprits) {
    const std::string msg = model_error(config);
    EXPECT_EQ(msg.rfind("m.keras/config.json: ", 0), 0u) << msg;
    for (const std::string& c : culprits) EXPECT_NE(msg.find(c), std::string::npos) << msg;
  };
  J j = nested_config();
  j["config"]["layers"][3]["config"]["activation"] = "tanh";
  refused(j, {"layer 'dense' (Dense)", "activation is \"tanh\""});

  j = nested_config();
  J bn = j["config"]["layers"][4];
  bn["class_name"] = "BatchNormalization";
  bn["config"]["name"] = "batch_normalization";
  j["config"]["layers"].insert(j["config"]["layers"].begin() + 3, bn);
  refused(j, {"layer 'batch_normalization' (BatchNormalization)", "Dense(hidden units, relu)"});

  j = nested_config();
  J& base = j["config"]["layers"][1]["config"]["layers"];
  base.erase(base.begin() + 17);  // block5_conv3: block5_pool is then where a Conv2D belongs
  base[17]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "block5_conv2";
  refused(j, {"layer 'block5_pool' (MaxPooling2D)", "block5_conv3"});

  j = nested_config();
  j["config"]["layers"][1]["config"]["layers"][1]["config"]["filters"] = 32;
  refused(j, {"'block1_conv1'", "filters is 32"});

  j = nested_config();
  j["config"]["layers"].push_back(j["config"]["layers"][5]);
  j["config"]["layers"].back()["config"]["name"] = "dense_9";
  refused(j, {"'dense_9'", "ends at the softmax Dense"});

  j = nested_config();
  j["config"]["layers"].erase(5);
  refused(j, {"ends after layer 'dropout'", "Dense(classes, softmax)"});

  j = nested_config();
  j["config"]["layers"][5]["config"]["dtype"]["config"]["name"] = "mixed_float16";
  refused(j, {"'dense_1'", "mixed_float16"});

  j = nested_config();
  j["config"]["layers"][0]["config"]["batch_shape"] = {nullptr, 28, 28, 3};
  refused(j, {"'input_layer_1' (InputLayer)", "[null,28,28,3]"});

  j = flat_config();  // a skip connection: block1_conv2 called on the input
  j["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] =
      "input_layer";
  refused(j, {"'block1_conv2' (Conv2D)", "called on 'input_layer'"});

  j = nested_config();
  j["class_name"] = "Dense";
  refused(j, {"the model is 'Dense'"});
}

using KerasArchiveApp = PredictFromFiles;

TEST_F(KerasArchiveApp, PredictsFromKerasArchivesWhatItPredictsFromTheSameWeightsInH5) {
  Generator init(11);
  app::save_model_file(dir.file("kiln.h5"), *app::build_classifier(app::ModelConfig{}, init), {},
                       {});
  const std::string want = predictions("kiln.h5", "kiln.csv");
  ASSERT_FALSE(want.empty());
  const KerasWeights weights = classifier_weights();
  write_keras_file(dir.file("nested.keras"), kKeras315NestedConfig, keras3_layout(weights, true));
  EXPECT_EQ(predictions("nested.keras", "nested.csv"), want);  // bit for bit
  write_keras_file(dir.file("flat.keras"), kKeras315FlatConfig, keras3_layout(weights, false));
  EXPECT_EQ(predictions("flat.keras", "flat.csv"), want);
}

TEST_F(KerasArchiveApp, WhatKilnWritesItReadsBackWithTheSamePredictionsAndClassNames) {
  Generator init(5);
  const app::ModelConfig config{32, 16, 3, 0.25};
  const auto model = app::build_classifier(config, init);
  const std::vector<std::string> names{"cat", "dog", "ship"};
  const std::map<std::string, std::string> facts{{"image_size", "32"}, {"seed", "5"}};
  app::save_model_file(dir.file("best.keras"), *model, names, facts);
  app::save_model_file(dir.file("best.h5"), *model, names, facts);
  const app::LoadedModel loaded = app::load_model_file(dir.file("best.keras"));
  expect_config(loaded.config, config);
  EXPECT_EQ(loaded.class_names, names);
  EXPECT_EQ(loaded.facts, facts);
  std::vector<std::string> read_names;
  EXPECT_EQ(app::read_model_facts(dir.file("best.keras"), &read_names), facts);
  EXPECT_EQ(read_names, names);
  const std::string want = predictions("best.h5", "h5.csv");
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(predictions("best.keras", "keras.csv"), want);
}

TEST_F(KerasArchiveApp, TrainWritesBestKerasThatEvaluateAndPredictRead) {
  const AppRun run = run_cifar10(dir,
                                 "train --data data --weights none --epochs 1 --batch-size 8 "
                                 "--out-dir out --save-format keras");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("out/best.keras")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/best.h5")));
  const std::vector<ZipEntry> entries = read_zip(dir.file("out/best.keras"));
  ASSERT_EQ(entries.size(), 3u);
  const J metadata = J::parse(entries[0].bytes);
  EXPECT_EQ(metadata["keras_version"], "3.15.1");
  EXPECT_EQ(metadata["kiln_class_names"][3], "cat");
  EXPECT_EQ(metadata["kiln_epoch"], "1");
  const AppRun eval = run_cifar10(dir, "evaluate --model out/best.keras --data data");
  EXPECT_EQ(eval.status, 0) << eval.err;
  EXPECT_FALSE(predictions("out/best.keras", "p.csv").empty());
}

TEST_F(KerasArchiveApp, TrainTakesTheBaseFromAKerasArchive) {
  write_keras_file(dir.file("base.keras"), kKeras315NestedConfig,
                   keras3_layout(classifier_weights(), true));
  const AppRun run = run_cifar10(
      dir, "train --data data --weights base.keras --epochs 1 --batch-size 8 --out-dir out");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("VGG16 base: loaded 15 layers from base.keras"), std::string::npos)
      << run.out;
}

TEST_F(KerasArchiveApp, BrokenArchivesFailWithOneLineNamingTheFile) {
  const std::vector<Keras3Layer> good = keras3_layout(classifier_weights(), true);
  write_keras_file(dir.file("good.keras"), kKeras315NestedConfig, good);

  std::vector<std::uint8_t> bytes = read_bytes(dir.file("good.keras"));
  bytes.resize(bytes.size() / 2);
  write_bytes(dir.file("half.keras"), bytes);
  expect_failure("half.keras", {"half.keras: not a readable zip archive"});

  const std::vector<ZipEntry> members = read_zip(dir.file("good.keras"));
  ASSERT_EQ(members.size(), 3u);
  write_zip(dir.file("noconfig.keras"),
            {{members[0].name, members[0].bytes}, {members[2].name, members[2].bytes}});
  expect_failure("noconfig.keras", {"noconfig.keras: no config.json"});
  write_zip(dir.file("noweights.keras"),
            {{members[0].name, members[0].bytes}, {members[1].name, members[1].bytes}});
  expect_failure("noweights.keras", {"noweights.keras: no model.weights.h5"});
  write_zip(dir.file("text.keras"), {{members[0].name, members[0].bytes},
                                     {"config.json", "Sequential(...)"},
                                     {members[2].name, members[2].bytes}});
  expect_failure("text.keras", {"text.keras: config.json is not valid JSON"});

  J bn = nested_config();
  J layer = bn["config"]["layers"][4];
  layer["class_name"] = "BatchNormalization";
  layer["config"]["name"] = "batch_normalization";
  bn["config"]["layers"].insert(bn["config"]["layers"].begin() + 3, layer);
  write_keras_file(dir.file("bn.keras"), bn.dump(), good);
  expect_failure("bn.keras",
                 {"bn.keras/config.json", "'batch_normalization' (BatchNormalization)"});

  std::vector<Keras3Layer> missing = good;
  missing.erase(std::find_if(missing.begin(), missing.end(),
                             [](const Keras3Layer& l) { return l.key == "functional/conv2d_12"; }));
  write_keras_file(dir.file("missing.keras"), kKeras315NestedConfig, missing);
  expect_failure("missing.keras", {"missing.keras/model.weights.h5", "13 conv2d", "the file 12"});

  std::vector<Keras3Layer> shape = good;
  for (Keras3Layer& l : shape) {
    if (l.key == "functional/conv2d_3") l.layer = conv_layer("block2_conv2", 64, 128, 0.5f);
  }
  write_keras_file(dir.file("shape.keras"), kKeras315NestedConfig, shape);
  expect_failure("shape.keras",
                 {"shape.keras/model.weights.h5", "block2_conv2", "[3,3,64,128]", "[3,3,128,128]"});

  // A head whose size the config and the weights disagree on.
  J wide = nested_config();
  wide["config"]["layers"][3]["config"]["units"] = 128;
  write_keras_file(dir.file("wide.keras"), wide.dump(), good);
  expect_failure("wide.keras",
                 {"wide.keras/model.weights.h5", "'dense'", "[512,256]", "[512,128]"});

  // train with a broken --weights writes nothing.
  const AppRun run =
      run_cifar10(dir, "train --data data --weights half.keras --epochs 1 --out-dir fresh");
  EXPECT_EQ(run.status, 1) << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("fresh")));
}

}  // namespace
}  // namespace kiln::test
