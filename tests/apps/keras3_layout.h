// The recipe's classifier as Keras 3 keys its weights (keras3_weights.h), for the apps tests
// that write Keras 3 files: .weights.h5 (keras3_files_test.cpp) and .keras
// (keras_archive_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "apps/cifar10/model_file.h"
#include "tests/apps/app_runner.h"
#include "tests/weights/keras_files.h"
#include "weights/model_weights.h"

namespace kiln::test {

// Kiln's classifier (random init, 10 classes, hidden 256) as Keras holds its weights.
inline KerasWeights classifier_weights() {
  Generator init(11);
  return model_to_keras_weights(*app::build_classifier(app::ModelConfig{}, init));
}

// The recipe's model as Keras 3 keys it: Sequential([VGG16 base, Flatten, Dense, Dropout,
// Dense]) (nested: the base is "functional", with its InputLayer) or one flat Functional model.
inline std::vector<Keras3Layer> keras3_layout(const KerasWeights& flat, bool nested) {
  std::vector<std::pair<std::string, int>> used;  // (container|class, count): _get_unique_name
  const auto key = [&](const std::string& container, const std::string& cls) {
    const std::string slot = container + "|" + cls;
    auto it =
        std::find_if(used.begin(), used.end(), [&](const auto& u) { return u.first == slot; });
    if (it == used.end()) it = used.insert(used.end(), {slot, 0});
    const std::string k = it->second == 0 ? cls : cls + "_" + std::to_string(it->second);
    ++it->second;
    return container.empty() ? k : container + "/" + k;
  };
  const std::string base = nested ? "functional" : "";
  std::vector<Keras3Layer> out{{key(base, "input_layer"), {"input_layer", {}}}};
  for (const KerasLayer& l : flat.layers) {
    const bool in_base = l.name.rfind("block", 0) == 0;
    const std::string cls = l.name.find("conv") != std::string::npos     ? "conv2d"
                            : l.name.find("pool") != std::string::npos   ? "max_pooling2d"
                            : l.name == "flatten" || l.name == "dropout" ? l.name
                                                                         : "dense";
    RefLayer ref{l.name, {}};
    for (const KerasWeight& w : l.weights) ref.weights.push_back({"", w.shape, w.data});
    out.push_back({key(in_base ? base : "", cls), ref});
  }
  return out;
}

inline std::string text_of(const std::string& path) {
  const std::vector<std::uint8_t> b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

// A folder with a CIFAR-format train and test file and a sentinel where predict's --out goes,
// for the tests that predict from Keras 3 files (.weights.h5, .keras).
class PredictFromFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(16, 1));
    write_bytes(dir.file("data/test_batch.bin"), cifar_records(8, 2));
    write_text(dir.file("models/history.csv"), kSentinel);
  }

  // predict's CSV for `model`, or "" (with a test failure) when it fails.
  std::string predictions(const std::string& model, const std::string& csv) {
    const AppRun run =
        run_cifar10(dir, "predict --model " + model + " data/test_batch.bin --out " + csv);
    EXPECT_EQ(run.status, 0) << run.err;
    return text_of(dir.file(csv));
  }

  // A failing predict: exit 1, one stderr line containing every `culprit`, --out not touched.
  void expect_failure(const std::string& model, const std::vector<std::string>& culprits) {
    SCOPED_TRACE(model);
    const AppRun run = run_cifar10(
        dir, "predict --model " + model + " data/test_batch.bin --out models/history.csv");
    EXPECT_EQ(run.status, 1) << run.err;
    const std::vector<std::string> lines = lines_of(run.err);
    ASSERT_EQ(lines.size(), 1u) << run.err;
    for (const std::string& c : culprits)
      EXPECT_NE(lines[0].find(c), std::string::npos) << lines[0];
    EXPECT_EQ(text_of(dir.file("models/history.csv")), kSentinel);
  }

  static constexpr const char* kSentinel = "sentinel: an earlier run's file\n";
  TempFolder dir;
};

}  // namespace kiln::test
