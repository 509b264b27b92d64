// weights/keras3_weights.h: Keras 3 .weights.h5 files (written here through the bare HDF5 C API,
// in the layouts Keras 3.15's saving_lib writes) read, and loaded into a Kiln model by Keras'
// own rule (class and order) or by the names newer files carry. The load is checked by what
// the model computes, against a Keras-style NHWC forward pass of the same weights.
#include "weights/keras3_weights.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/sequential.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"
#include "weights/model_weights.h"

namespace kiln {
namespace {

using test::error_of;
using test::Keras3Layer;
using test::RefLayer;
using test::ScratchDir;

// A VGG-like model: 3x3 "same" ReLU convolutions on a 2x2 input, a flatten of the 1x1 map after a
// pool, and a dense layer. Keras auto-names: block convolutions as VGG16 names them, dense "fc1".
constexpr std::int64_t kIn = 2, kWidth = 3, kOut = 4;

std::vector<RefLayer> ref_layers() {
  return {test::conv_layer("block1_conv1", kIn, kWidth, 0.1f),
          test::conv_layer("block1_conv2", kWidth, kWidth, 0.2f),
          {"block1_pool", {}},
          {"flatten", {}},
          test::dense_layer("fc1", kWidth, kOut, 0.3f)};
}

// Keras 3.15: Sequential([Functional base, Flatten, Dense]); the base keeps its InputLayer.
std::vector<Keras3Layer> nested_layout() {
  const std::vector<RefLayer> L = ref_layers();
  return {{"functional/input_layer", {"input_layer", {}}},
          {"functional/conv2d", L[0]},
          {"functional/conv2d_1", L[1]},
          {"functional/max_pooling2d", L[2]},
          {"flatten", L[3]},
          {"dense", L[4]}};
}

// One functional model: Model(base.input, Dense(Flatten(base.output))).
std::vector<Keras3Layer> flat_layout() {
  const std::vector<RefLayer> L = ref_layers();
  return {{"input_layer", {"input_layer", {}}},
          {"conv2d", L[0]},
          {"conv2d_1", L[1]},
          {"max_pooling2d", L[2]},
          {"flatten", L[3]},
          {"dense", L[4]}};
}

std::shared_ptr<Sequential> kiln_model(std::uint64_t seed) {
  Generator gen(seed);
  auto base = std::make_shared<Sequential>("vgg16");
  base->add(std::make_shared<Conv2d>("block1_conv1", kIn, kWidth, Conv2dConfig::same_relu(3), gen));
  base->add(
      std::make_shared<Conv2d>("block1_conv2", kWidth, kWidth, Conv2dConfig::same_relu(3), gen));
  base->add(std::make_shared<MaxPool2d>("block1_pool"));
  auto head = std::make_shared<Sequential>("head");
  head->add(std::make_shared<Flatten>("flatten", std::optional<MapShape>(MapShape{kWidth, 1, 1})));
  head->add(std::make_shared<Dense>("fc1", kWidth, kOut, Activation::None, gen));
  auto model = std::make_shared<Sequential>("model");
  model->add(base);
  model->add(head);
  return model;
}

// Keras' forward pass of ref_layers() on one 2x2 NHWC image, by hand.
std::vector<float> keras_forward(const std::vector<float>& x) {
  const std::vector<RefLayer> L = ref_layers();
  std::vector<float> a = x;  // (2, 2, C)
  std::int64_t C = kIn;
  for (int l = 0; l < 2; ++l) {
    const std::vector<float>& k = L[l].weights[0].values;
    const std::vector<float>& b = L[l].weights[1].values;
    std::vector<float> y(4 * kWidth);
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t w = 0; w < 2; ++w)
        for (std::int64_t o = 0; o < kWidth; ++o) {
          double acc = b[o];
          for (std::int64_t r = 0; r < 3; ++r)
            for (std::int64_t s = 0; s < 3; ++s) {
              const std::int64_t ih = h + r - 1, iw = w + s - 1;
              if (ih < 0 || ih >= 2 || iw < 0 || iw >= 2) continue;
              for (std::int64_t c = 0; c < C; ++c)
                acc += a[(ih * 2 + iw) * C + c] * k[((r * 3 + s) * C + c) * kWidth + o];
            }
          y[(h * 2 + w) * kWidth + o] = static_cast<float>(std::max(acc, 0.0));
        }
    a = y;
    C = kWidth;
  }
  std::vector<float> pooled(kWidth, -INFINITY);
  for (std::int64_t p = 0; p < 4; ++p)
    for (std::int64_t c = 0; c < kWidth; ++c) pooled[c] = std::max(pooled[c], a[p * kWidth + c]);
  std::vector<float> out(kOut);
  for (std::int64_t o = 0; o < kOut; ++o) {
    double acc = L[4].weights[1].values[o];
    for (std::int64_t i = 0; i < kWidth; ++i)
      acc += pooled[i] * L[4].weights[0].values[i * kOut + o];
    out[o] = static_cast<float>(acc);
  }
  return out;
}

void expect_computes_what_keras_computes(Module& model) {
  const std::vector<float> nhwc = {0.3f, -0.2f, 0.9f, 0.1f, -0.5f, 0.7f, 0.2f, 0.4f};  // (2,2,2)
  std::vector<float> nchw(8);
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 2; ++c) nchw[c * 4 + p] = nhwc[p * 2 + c];
  const std::vector<double> got =
      model(Tensor::from_vector(Shape{1, kIn, 2, 2}, nchw)).to_double_vector();
  const std::vector<float> want = keras_forward(nhwc);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

struct Layout {
  const char* name;
  bool nested, with_names;
};

class EveryKeras3Layout : public ::testing::TestWithParam<Layout> {};

TEST_P(EveryKeras3Layout, LoadsIntoTheModelAndComputesWhatKerasComputes) {
  ScratchDir dir;
  const std::string path = dir.file("m.weights.h5");
  test::write_keras3_style(path, GetParam().nested ? nested_layout() : flat_layout(),
                           GetParam().with_names);
  auto model = kiln_model(7);
  const LoadReport report = load_weights(path, *model);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "block1_conv2", "fc1"}));
  EXPECT_TRUE(report.unused.empty());
  expect_computes_what_keras_computes(*model);
}

INSTANTIATE_TEST_SUITE_P(Keras3, EveryKeras3Layout,
                         ::testing::Values(Layout{"NestedNamed", true, true},
                                           Layout{"NestedUnnamed", true, false},
                                           Layout{"FlatNamed", false, true},
                                           Layout{"FlatUnnamed", false, false}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Keras3Read, KeysNamesAndOrderWithinAClassComeFromTheSuffix) {
  ScratchDir dir;
  const std::string path = dir.file("many.weights.h5");
  std::vector<Keras3Layer> layers;
  // HDF5 lists conv2d_10 and conv2d_11 before conv2d_2; the model's order is the suffix's.
  for (int i = 0; i < 12; ++i) {
    layers.push_back({"functional/conv2d" + (i ? "_" + std::to_string(i) : std::string()),
                      test::conv_layer("c" + std::to_string(i), 1, i + 1, 0.1f * i)});
  }
  test::write_keras3_style(path, layers, /*with_names=*/false);
  const KerasWeights read = read_keras_weights(path);
  EXPECT_TRUE(read.keyed_by_class);
  EXPECT_FALSE(read.names_from_file);
  ASSERT_EQ(read.layers.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(read.keys[i], layers[i].key);
    EXPECT_EQ(read.layers[i].name, keras3_path(layers[i].key));
    ASSERT_EQ(read.layers[i].weights.size(), 2u);
    EXPECT_EQ(read.layers[i].weights[0].shape, (std::vector<std::int64_t>{3, 3, 1, i + 1}));
    EXPECT_EQ(read.layers[i].weights[1].name, keras3_path(layers[i].key) + "/vars/1");
  }
  EXPECT_EQ(keras3_class("functional/conv2d_12"), "conv2d");
  EXPECT_EQ(keras3_class("re_lu"), "re_lu");
  EXPECT_EQ(keras3_container("functional/conv2d_12"), "functional");
  EXPECT_EQ(keras3_path("functional/conv2d"), "layers/functional/layers/conv2d");

  const std::string named = dir.file("named.weights.h5");
  test::write_keras3_style(named, nested_layout(), /*with_names=*/true);
  const KerasWeights with_names = read_keras_weights(named);
  EXPECT_TRUE(with_names.names_from_file);
  ASSERT_NE(with_names.find("block1_conv2"), nullptr);
  EXPECT_EQ(with_names.find("block1_conv2")->weights[0].data, ref_layers()[1].weights[0].values);
}

TEST(Keras3Load, RenamedHeadLayersLoadByClassAndOrderAsKerasLoadsThem) {
  // A notebook run twice names its head dense_2; Keras loads by key (dense), so does Kiln.
  ScratchDir dir;
  const std::string path = dir.file("m.weights.h5");
  std::vector<Keras3Layer> layers = nested_layout();
  layers.back().layer.name = "dense_2";
  test::write_keras3_style(path, layers, /*with_names=*/true);
  auto model = kiln_model(3);
  load_weights(path, *model);
  expect_computes_what_keras_computes(*model);
}

TEST(Keras3Load, ABaseLoadTakesTheConvolutionsByName) {
  // A with-top file: its Dense layers are not the model's head; they are reported, not loaded.
  ScratchDir dir;
  const std::string path = dir.file("top.weights.h5");
  std::vector<Keras3Layer> layers = flat_layout();
  layers.back().layer = test::dense_layer("predictions", 7, 9, 0.5f);
  test::write_keras3_style(path, layers, /*with_names=*/true);
  auto model = kiln_model(3);
  LoadOptions options;
  options.allow_missing = true;
  const LoadReport report = load_weights(path, *model, options);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "block1_conv2"}));
  EXPECT_EQ(report.missing, std::vector<std::string>{"fc1"});
  EXPECT_EQ(report.unused, std::vector<std::string>{"predictions"});
}

TEST(Keras3Load, ShapeMismatchNamesTheFileTheLayerAndBothShapes) {
  ScratchDir dir;
  const std::string path = dir.file("bad.weights.h5");
  std::vector<Keras3Layer> layers = nested_layout();
  layers[2].layer = test::conv_layer("block1_conv2", kWidth, kWidth + 1, 0.2f);
  test::write_keras3_style(path, layers, /*with_names=*/false);
  auto model = kiln_model(3);
  const auto before = model->named_parameters()[0].second.to_double_vector();
  const std::string msg = error_of([&] { load_weights(path, *model); });
  EXPECT_EQ(msg, path +
                     ": layer 'block1_conv2': weight 'layers/functional/layers/conv2d_1/vars/0' "
                     "has shape [3,3,3,4] in the file but the model expects [3,3,3,3] "
                     "(Keras layout of 'block1_conv2/kernel' [3,3,3,3])");
  EXPECT_EQ(model->named_parameters()[0].second.to_double_vector(), before);
}

TEST(Keras3Load, AMissingLayerIsAnErrorNamingTheClassCounts) {
  ScratchDir dir;
  std::vector<Keras3Layer> layers = nested_layout();
  layers.erase(layers.begin() + 2);  // functional/conv2d_1
  const std::string unnamed = dir.file("unnamed.weights.h5");
  test::write_keras3_style(unnamed, layers, /*with_names=*/false);
  auto model = kiln_model(3);
  std::string msg = error_of([&] { load_weights(unnamed, *model); });
  EXPECT_EQ(msg.rfind(unnamed + ": the model has 2 conv2d layers with weights ('block1_conv1', "
                                "'block1_conv2'), the file 1 (layers/functional/layers/conv2d)",
                      0),
            0u)
      << msg;
  const std::string named = dir.file("named.weights.h5");
  test::write_keras3_style(named, layers, /*with_names=*/true);
  msg = error_of([&] { load_weights(named, *model); });
  EXPECT_NE(msg.find("not in the file by name: 'block1_conv2'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

std::vector<std::vector<double>> parameter_values(const Module& m) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, t] : m.named_parameters()) out.push_back(t.to_double_vector());
  return out;
}

TEST(Keras3Write, KeysAsSavingLibAndRoundTripsNestedAndFlat) {
  ScratchDir dir;
  auto a = kiln_model(21);
  const std::vector<Keras3Entry> nested = model_to_keras3_layers(*a, {"vgg16"});
  std::vector<std::string> keys;
  for (const Keras3Entry& e : nested) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"functional/input_layer", "functional/conv2d",
                                            "functional/conv2d_1", "functional/max_pooling2d",
                                            "flatten", "dense"}));
  keys.clear();
  for (const Keras3Entry& e : model_to_keras3_layers(*a, {})) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"input_layer", "conv2d", "conv2d_1", "max_pooling2d",
                                            "flatten", "dense"}));

  for (const bool nest : {true, false}) {
    SCOPED_TRACE(nest ? "nested" : "flat");
    const std::string path = dir.file(nest ? "n.weights.h5" : "f.weights.h5");
    write_h5_atomically(path, [&](H5Group& root) {
      write_keras3_weights(root,
                           model_to_keras3_layers(*a, nest ? std::vector<std::string>{"vgg16"}
                                                           : std::vector<std::string>{}),
                           "sequential", {{"functional", "vgg16"}});
    });
    EXPECT_EQ(test::read_raw_attr(
                  path, nest ? "/layers/functional/layers/conv2d_1/vars" : "/layers/conv2d_1/vars",
                  "name")
                  .strings,
              std::vector<std::string>{"block1_conv2"});
    const KerasWeights read = read_keras_weights(path);
    EXPECT_TRUE(read.names_from_file);
    auto b = kiln_model(22);
    ASSERT_NE(parameter_values(*a), parameter_values(*b));
    load_weights(path, *b);
    EXPECT_EQ(parameter_values(*a), parameter_values(*b));
  }
  ScratchDir other;
  const std::string twice = other.file("twice.weights.h5");
  EXPECT_NE(error_of([&] {
              write_h5_atomically(twice, [&](H5Group& root) {
                write_keras3_weights(root, {{"dense", "a", {}}, {"dense", "b", {}}}, "m", {});
              });
            }).find("two layers have the key 'dense'"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(twice));
  // A key that is also another key's model is refused in either order.
  const std::string both = other.file("both.weights.h5");
  for (const auto& order : {std::vector<std::string>{"functional", "functional/conv2d"},
                            std::vector<std::string>{"functional/conv2d", "functional"}}) {
    EXPECT_NE(error_of([&] {
                write_h5_atomically(both, [&](H5Group& root) {
                  write_keras3_weights(root, {{order[0], "a", {}}, {order[1], "b", {}}}, "m", {});
                });
              }).find("'functional' is both a layer and a model"),
              std::string::npos)
        << order[0] << " then " << order[1];
    EXPECT_FALSE(std::filesystem::exists(both));
  }
}

TEST(Keras3Read, MalformedFilesFailWithTheFileAndTheGroup) {
  ScratchDir dir;
  const std::string gap = dir.file("gap.weights.h5");
  {
    test::RawH5Writer w(gap);
    w.dataset("/layers/dense/vars/0", {2, 2}, {1, 2, 3, 4});
    w.dataset("/layers/dense/vars/2", {2}, {1, 2});
  }
  EXPECT_EQ(error_of([&] { read_keras_weights(gap); }),
            gap + ": /layers/dense/vars: variables are numbered 0 .. n-1, but 1 is missing");

  const std::string no_layers = dir.file("no_layers.weights.h5");
  {
    test::RawH5Writer w(no_layers);
    w.group("/vars");
  }
  EXPECT_EQ(error_of([&] { read_keras_weights(no_layers); }),
            no_layers +
                ": a Keras 3 .weights.h5 file needs a layers group at its root "
                "(top-level objects: vars)");

  const std::string good = dir.file("good.weights.h5");
  test::write_keras3_style(good, nested_layout(), true);
  const std::vector<char> bytes = test::file_bytes(good);
  const std::string half = dir.file("half.weights.h5");
  std::ofstream(half, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  const std::string msg = error_of([&] { read_keras_weights(half); });
  EXPECT_EQ(msg.rfind(half + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln
