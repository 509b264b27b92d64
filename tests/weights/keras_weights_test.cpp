// weights/keras_weights.h: reads files in every Keras writer's layout (written here through the
// bare HDF5 C API, as h5py writes them), recognises what it cannot read, and writes exactly
// tf.keras 2's layout (checked with the bare C API too, not with the reader under test).
#include "weights/keras_weights.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"

namespace kiln {
namespace {

using test::error_of;
using test::KerasStyle;
using test::RefLayer;
using test::ScratchDir;

// A VGG-like stack under Keras' names: two convolutions, a pool, a flatten, a dense layer.
std::vector<RefLayer> small_vgg() {
  return {test::conv_layer("block1_conv1", 3, 4, 0.1f),
          test::conv_layer("block1_conv2", 4, 4, 0.2f),
          {"block1_pool", {}},
          {"flatten", {}},
          test::dense_layer("fc1", 4 * 2 * 2, 5, 0.3f)};
}

// What the reader must give back for `layers` written in `style`.
void expect_read_as_written(const KerasWeights& read, const std::vector<RefLayer>& layers,
                            KerasStyle style) {
  ASSERT_EQ(read.layers.size(), layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const KerasLayer& got = read.layers[i];
    EXPECT_EQ(got.name, layers[i].name);
    ASSERT_EQ(got.weights.size(), layers[i].weights.size()) << got.name;
    for (std::size_t j = 0; j < got.weights.size(); ++j) {
      const test::RefWeight& want = layers[i].weights[j];
      EXPECT_EQ(got.weights[j].name, test::weight_entry(style, layers[i].name, want.param));
      EXPECT_EQ(got.weights[j].shape, want.shape);
      EXPECT_EQ(got.weights[j].data, want.values);
    }
  }
}

class EveryStyle : public ::testing::TestWithParam<KerasStyle> {};

TEST_P(EveryStyle, ReadsLayersWeightsAndShapes) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  test::write_keras_style(path, GetParam(), small_vgg());
  const KerasWeights read = read_keras_weights(path);
  expect_read_as_written(read, small_vgg(), GetParam());
  if (GetParam() == KerasStyle::Keras1) {
    EXPECT_EQ(read.keras_version, "");  // the official files have none; that is fine
    EXPECT_EQ(read.backend, "");
  } else {
    EXPECT_FALSE(read.keras_version.empty());
    EXPECT_EQ(read.backend, "tensorflow");
  }
  ASSERT_NE(read.find("fc1"), nullptr);
  EXPECT_EQ(read.find("fc1")->weights[0].shape, (std::vector<std::int64_t>{16, 5}));
  EXPECT_EQ(read.find("fc2"), nullptr);
}

TEST_P(EveryStyle, ReadsAFullModelSaveFromItsModelWeightsGroup) {
  ScratchDir dir;
  const std::string path = dir.file("model.h5");
  test::WriteOptions options;
  options.model_weights_group = true;
  test::write_keras_style(path, GetParam(), small_vgg(), options);
  expect_read_as_written(read_keras_weights(path), small_vgg(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Keras, EveryStyle, ::testing::ValuesIn(test::kEveryKerasStyle),
                         [](const auto& info) { return test::keras_style_test_name(info.param); });

TEST(KerasWeightsRead, JoinsSplitLayerNames) {
  ScratchDir dir;
  const std::string path = dir.file("split.h5");
  test::WriteOptions options;
  options.layer_name_chunks = 2;  // layer_names0 = first three, layer_names1 = last two
  test::write_keras_style(path, KerasStyle::TfKeras2, small_vgg(), options);
  expect_read_as_written(read_keras_weights(path), small_vgg(), KerasStyle::TfKeras2);
}

// Keras 3's own format is read (keras3_weights.h), the optimizer's state ignored.
TEST(KerasWeightsRead, ReadsTheKeras3WeightsFormat) {
  ScratchDir dir;
  const std::string path = dir.file("model.weights.h5");
  {
    test::RawH5Writer w(path);
    w.dataset("/layers/conv2d/vars/0", {3, 3, 3, 4}, std::vector<float>(108, 0.f));
    w.dataset("/layers/conv2d/vars/1", {4}, std::vector<float>(4, 0.f));
    w.dataset("/optimizer/vars/0", {}, {3.f});
    w.group("/vars");
  }
  const KerasWeights read = read_keras_weights(path);
  EXPECT_TRUE(read.keyed_by_class);
  ASSERT_EQ(read.layers.size(), 1u);
  EXPECT_EQ(read.keys, std::vector<std::string>{"conv2d"});
  EXPECT_EQ(read.layers[0].name, "layers/conv2d");
  ASSERT_EQ(read.layers[0].weights.size(), 2u);
  EXPECT_EQ(read.layers[0].weights[0].shape, (std::vector<std::int64_t>{3, 3, 3, 4}));
}

TEST(KerasWeightsRead, ErrorsNameTheFileAndWhatIsWrong) {
  ScratchDir dir;
  const std::string no_names = dir.file("no_names.h5");
  {
    test::RawH5Writer w(no_names);
    w.group("/something");
  }
  std::string msg = error_of([&] { read_keras_weights(no_names); });
  EXPECT_EQ(msg, no_names +
                     ": no layer_names attribute, so not a Keras weights file "
                     "(top-level objects: something)");

  const std::string no_group = dir.file("no_group.h5");
  {
    test::RawH5Writer w(no_group);
    w.string_list_attr("/", "layer_names", {"block1_conv1"});
  }
  msg = error_of([&] { read_keras_weights(no_group); });
  EXPECT_NE(msg.find(no_group + ": layer 'block1_conv1' is listed in layer_names but"),
            std::string::npos)
      << msg;

  const std::string no_dataset = dir.file("no_dataset.h5");
  {
    test::RawH5Writer w(no_dataset);
    w.string_list_attr("/", "layer_names", {"dense"});
    w.dataset("/dense/dense/kernel:0", {2, 2}, {1, 2, 3, 4});
    w.string_list_attr("/dense", "weight_names", {"dense/kernel:0", "dense/bias:0"});
  }
  msg = error_of([&] { read_keras_weights(no_dataset); });
  EXPECT_EQ(msg, no_dataset +
                     ": layer 'dense': weight 'dense/bias:0' is listed in weight_names "
                     "but there is no dataset /dense/dense/bias:0");

  const std::string text = dir.file("text.h5");
  std::ofstream(text) << "hello\n";
  EXPECT_EQ(error_of([&] { read_keras_weights(text); }), text + ": not an HDF5 file");

  const std::string good = dir.file("good.h5");
  test::write_keras_style(good, KerasStyle::Keras1, small_vgg());
  const std::vector<char> bytes = test::file_bytes(good);
  const std::string half = dir.file("half.h5");
  std::ofstream(half, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  msg = error_of([&] { read_keras_weights(half); });
  EXPECT_EQ(msg.rfind(half + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

KerasWeights sample_weights() {
  KerasWeights w;
  w.layers.push_back({"conv",
                      {{"conv/kernel:0", {3, 3, 2, 4}, test::ramp(72, 0.1f)},
                       {"conv/bias:0", {4}, test::ramp(4, 0.2f)}}});
  w.layers.push_back({"pool", {}});
  w.layers.push_back({"dense",
                      {{"dense/kernel:0", {4, 3}, test::ramp(12, 0.3f)},
                       {"dense/bias:0", {3}, test::ramp(3, 0.4f)}}});
  return w;
}

TEST(KerasWeightsWrite, WritesTfKeras2LayoutExactly) {
  ScratchDir dir;
  const std::string path = dir.file("out.h5");
  write_keras_weights(path, sample_weights());

  const test::RawAttr names = test::read_raw_attr(path, "/", "layer_names");
  EXPECT_EQ(names.type_class, H5T_STRING);
  EXPECT_FALSE(names.variable_length);  // numpy 'S<n>'
  EXPECT_EQ(names.strpad, H5T_STR_NULLPAD);
  EXPECT_EQ(names.strings, (std::vector<std::string>{"conv", "pool", "dense"}));
  const test::RawAttr backend = test::read_raw_attr(path, "/", "backend");
  EXPECT_TRUE(backend.scalar);
  EXPECT_EQ(backend.strings, std::vector<std::string>{"tensorflow"});
  EXPECT_EQ(test::read_raw_attr(path, "/", "keras_version").strings,
            std::vector<std::string>{"2.15.0"});

  EXPECT_EQ(test::raw_children(path, "/"), (std::vector<std::string>{"conv", "dense", "pool"}));
  EXPECT_EQ(test::read_raw_attr(path, "/conv", "weight_names").strings,
            (std::vector<std::string>{"conv/kernel:0", "conv/bias:0"}));
  EXPECT_EQ(test::raw_children(path, "/conv"), std::vector<std::string>{"conv"});
  EXPECT_EQ(test::raw_children(path, "/conv/conv"),
            (std::vector<std::string>{"bias:0", "kernel:0"}));
  const test::RawDataset kernel = test::read_raw_dataset(path, "/conv/conv/kernel:0");
  ASSERT_TRUE(kernel.found);
  EXPECT_TRUE(kernel.float32);
  EXPECT_EQ(kernel.shape, (std::vector<std::int64_t>{3, 3, 2, 4}));
  EXPECT_EQ(kernel.values, test::ramp(72, 0.1f));

  // A weightless layer: its group, with weight_names as h5py writes [] (float64, shape (0,)).
  const test::RawAttr empty = test::read_raw_attr(path, "/pool", "weight_names");
  EXPECT_EQ(empty.type_class, H5T_FLOAT);
  EXPECT_EQ(empty.count, 0);
  EXPECT_FALSE(empty.scalar);
  EXPECT_TRUE(test::raw_children(path, "/pool").empty());
}

TEST(KerasWeightsWrite, RoundTripsAndSplitsLongLayerNameLists) {
  ScratchDir dir;
  const std::string path = dir.file("many.h5");
  KerasWeights w;
  // 1500 names of 50 bytes: 75,000 bytes, more than one HDF5 object header (64,512) holds.
  for (int i = 0; i < 1500; ++i) {
    std::string name = "layer_" + std::to_string(i);
    name.resize(50, 'x');
    w.layers.push_back({name, {}});
  }
  w.layers[7].weights.push_back({w.layers[7].name + "/bias:0", {2}, {1.f, 2.f}});
  write_keras_weights(path, w);
  EXPECT_EQ(test::read_raw_attr(path, "/", "layer_names0").count, 750);
  EXPECT_EQ(test::read_raw_attr(path, "/", "layer_names1").count, 750);
  const KerasWeights back = read_keras_weights(path);
  ASSERT_EQ(back.layers.size(), w.layers.size());
  for (std::size_t i = 0; i < w.layers.size(); ++i)
    EXPECT_EQ(back.layers[i].name, w.layers[i].name);
  EXPECT_EQ(back.layers[7].weights[0].data, (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(back.keras_version, "2.15.0");
}

TEST(KerasWeightsWrite, RejectsInconsistentInput) {
  ScratchDir dir;
  KerasWeights twice = sample_weights();
  twice.layers.push_back(twice.layers[0]);
  EXPECT_THROW(write_keras_weights(dir.file("twice.h5"), twice), Error);
  KerasWeights short_data = sample_weights();
  short_data.layers[0].weights[1].data.pop_back();
  EXPECT_THROW(write_keras_weights(dir.file("short.h5"), short_data), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.file("short.h5")));
}

}  // namespace
}  // namespace kiln
