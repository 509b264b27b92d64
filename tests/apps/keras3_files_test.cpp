// cifar10 on Keras 3 .weights.h5 files, written here through the bare HDF5 C API in the layouts
// Keras 3.15 writes for the recipe (tests/weights/keras_files.h): predict sizes the head from the
// file and predicts exactly what it predicts from the same weights in Kiln's own .h5; train
// takes one as --weights; broken ones fail with one line naming the file and the layer, exit 1,
// and write nothing.
#include <gtest/gtest.h>

#include "apps/cifar10/model_file.h"
#include "tests/apps/app_runner.h"
#include "tests/apps/keras3_layout.h"
#include "tests/weights/keras_files.h"
#include "weights/model_weights.h"

namespace kiln::test {
namespace {

using Keras3Files = PredictFromFiles;

TEST_F(Keras3Files, PredictGivesTheSamePredictionsAsFromKilnsOwnFile) {
  const KerasWeights weights = classifier_weights();
  app::save_model_file(dir.file("kiln.h5"),
                       *[] {
                         Generator init(11);
                         return app::build_classifier(app::ModelConfig{}, init);
                       }(),
                       {}, {});
  const std::string want = predictions("kiln.h5", "kiln.csv");
  ASSERT_FALSE(want.empty());
  for (const bool nested : {true, false}) {
    for (const bool with_names : {true, false}) {
      SCOPED_TRACE(std::string(nested ? "nested" : "flat") + (with_names ? ", named" : ""));
      write_keras3_style(dir.file("m.weights.h5"), keras3_layout(weights, nested), with_names);
      EXPECT_EQ(predictions("m.weights.h5", "k3.csv"), want);  // bit for bit
    }
  }
}

TEST_F(Keras3Files, TrainTakesTheBaseFromAWeightsH5) {
  write_keras3_style(dir.file("base.weights.h5"), keras3_layout(classifier_weights(), true),
                     /*with_names=*/false);
  const AppRun run = run_cifar10(
      dir, "train --data data --weights base.weights.h5 --epochs 1 --batch-size 8 --out-dir out");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("VGG16 base: loaded 15 layers from base.weights.h5"), std::string::npos)
      << run.out;
}

TEST_F(Keras3Files, BrokenFilesFailWithOneLineNamingTheFileAndTheLayer) {
  const std::vector<Keras3Layer> good = keras3_layout(classifier_weights(), true);

  std::vector<Keras3Layer> shape = good;
  for (Keras3Layer& l : shape) {
    if (l.key == "functional/conv2d_3") l.layer = conv_layer("block2_conv2", 64, 128, 0.5f);
  }
  write_keras3_style(dir.file("shape.weights.h5"), shape, false);
  expect_failure("shape.weights.h5",
                 {"shape.weights.h5", "block2_conv2", "layers/functional/layers/conv2d_3/vars/0",
                  "[3,3,64,128]", "[3,3,128,128]"});

  std::vector<Keras3Layer> missing = good;
  missing.erase(std::find_if(missing.begin(), missing.end(),
                             [](const Keras3Layer& l) { return l.key == "functional/conv2d_12"; }));
  write_keras3_style(dir.file("missing.weights.h5"), missing, true);
  expect_failure("missing.weights.h5", {"missing.weights.h5", "block5_conv3", "12"});

  write_keras3_style(dir.file("good.weights.h5"), good, true);
  std::vector<std::uint8_t> bytes = read_bytes(dir.file("good.weights.h5"));
  bytes.resize(bytes.size() / 2);
  write_bytes(dir.file("half.weights.h5"), bytes);
  expect_failure("half.weights.h5", {"half.weights.h5"});
}

}  // namespace
}  // namespace kiln::test
