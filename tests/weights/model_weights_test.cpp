// weights/model_weights.h: Keras files into Kiln models and back. The check that matters is
// behavioural: a Kiln model loaded from a Keras-layout file computes what Keras computes from
// those weights (a hand-written NHWC forward here, with HWIO kernels and Keras' flatten order),
// which no consistent pair of wrong transposes could fake.
#include "weights/model_weights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/error.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/sequential.h"
#include "layers/vgg16.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"

namespace kiln {
namespace {

using test::error_of;
using test::KerasStyle;
using test::RefLayer;
using test::ScratchDir;

constexpr std::int64_t kN = 2, kSide = 4, kIn = 3, kWidth = 4, kOut = 5;

// Keras' side: the weights of a small VGG-like model under Keras names; its 4x4 input pools to a
// 2x2 map, so the Flatten order matters.
std::vector<RefLayer> keras_layers() {
  return {test::conv_layer("block1_conv1", kIn, kWidth, 0.1f),
          test::conv_layer("block1_conv2", kWidth, kWidth, 0.2f),
          {"block1_pool", {}},
          {"flatten", {}},
          test::dense_layer("fc1", kWidth * 2 * 2, kOut, 0.3f)};
}

// Kiln's side: the same layers, nested in two Sequentials as vgg16_classifier nests them.
std::shared_ptr<Sequential> kiln_model(std::uint64_t seed, bool declare_map = true) {
  Generator gen(seed);
  auto base = std::make_shared<Sequential>("base");
  base->add(std::make_shared<Conv2d>("block1_conv1", kIn, kWidth, Conv2dConfig::same_relu(3), gen));
  base->add(
      std::make_shared<Conv2d>("block1_conv2", kWidth, kWidth, Conv2dConfig::same_relu(3), gen));
  base->add(std::make_shared<MaxPool2d>("block1_pool"));
  auto head = std::make_shared<Sequential>("head");
  head->add(std::make_shared<Flatten>(
      "flatten", declare_map ? std::optional<MapShape>(MapShape{kWidth, 2, 2}) : std::nullopt));
  head->add(std::make_shared<Dense>("fc1", kWidth * 2 * 2, kOut, Activation::None, gen));
  auto model = std::make_shared<Sequential>("model");
  model->add(base);
  model->add(head);
  return model;
}

// ----- Keras' forward pass, NHWC, written out by hand ----------------------------------------

// 3x3 "same" convolution with ReLU: x (N, H, W, C), kernel (3, 3, C, K) -> (N, H, W, K).
std::vector<float> conv_relu_nhwc(const std::vector<float>& x, std::int64_t H, std::int64_t W,
                                  std::int64_t C, const test::RefLayer& layer) {
  const std::vector<float>& k = layer.weights[0].values;
  const std::vector<float>& b = layer.weights[1].values;
  const std::int64_t K = layer.weights[0].shape[3];
  std::vector<float> y(static_cast<std::size_t>(kN * H * W * K));
  for (std::int64_t n = 0; n < kN; ++n)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t w = 0; w < W; ++w)
        for (std::int64_t o = 0; o < K; ++o) {
          double acc = b[o];
          for (std::int64_t r = 0; r < 3; ++r)
            for (std::int64_t s = 0; s < 3; ++s) {
              const std::int64_t ih = h + r - 1, iw = w + s - 1;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              for (std::int64_t c = 0; c < C; ++c) {
                acc += x[((n * H + ih) * W + iw) * C + c] * k[((r * 3 + s) * C + c) * K + o];
              }
            }
          y[((n * H + h) * W + w) * K + o] = static_cast<float>(std::max(acc, 0.0));
        }
  return y;
}

std::vector<float> max_pool_nhwc(const std::vector<float>& x, std::int64_t H, std::int64_t W,
                                 std::int64_t C) {
  std::vector<float> y(static_cast<std::size_t>(kN * (H / 2) * (W / 2) * C));
  for (std::int64_t n = 0; n < kN; ++n)
    for (std::int64_t h = 0; h < H / 2; ++h)
      for (std::int64_t w = 0; w < W / 2; ++w)
        for (std::int64_t c = 0; c < C; ++c) {
          float m = -INFINITY;
          for (std::int64_t dh = 0; dh < 2; ++dh)
            for (std::int64_t dw = 0; dw < 2; ++dw)
              m = std::max(m, x[((n * H + 2 * h + dh) * W + 2 * w + dw) * C + c]);
          y[((n * (H / 2) + h) * (W / 2) + w) * C + c] = m;
        }
  return y;
}

// Keras: Flatten of NHWC is the memory order itself; then x @ kernel + bias.
std::vector<float> keras_forward(const std::vector<RefLayer>& L, const std::vector<float>& x_nhwc) {
  std::vector<float> a = conv_relu_nhwc(x_nhwc, kSide, kSide, kIn, L[0]);
  a = conv_relu_nhwc(a, kSide, kSide, kWidth, L[1]);
  a = max_pool_nhwc(a, kSide, kSide, kWidth);
  // Guard against a degenerate test: most pooled activations must be alive.
  EXPECT_GT(std::count_if(a.begin(), a.end(), [](float v) { return v > 0; }),
            static_cast<std::ptrdiff_t>(a.size() / 2));
  const std::int64_t in = kWidth * 2 * 2;
  std::vector<float> y(static_cast<std::size_t>(kN * kOut));
  for (std::int64_t n = 0; n < kN; ++n)
    for (std::int64_t o = 0; o < kOut; ++o) {
      double acc = L[4].weights[1].values[o];
      for (std::int64_t i = 0; i < in; ++i)
        acc += a[n * in + i] * L[4].weights[0].values[i * kOut + o];
      y[n * kOut + o] = static_cast<float>(acc);
    }
  return y;
}

// The same images for both: NHWC for Keras, NCHW for Kiln.
struct Images {
  std::vector<float> nhwc;
  Tensor nchw;
};
Images images() {
  Images im;
  im.nhwc = test::ramp(kN * kSide * kSide * kIn, 0.7f);
  for (float& v : im.nhwc) v = std::sin(7.f * v);
  std::vector<float> nchw(im.nhwc.size());
  for (std::int64_t n = 0; n < kN; ++n)
    for (std::int64_t h = 0; h < kSide; ++h)
      for (std::int64_t w = 0; w < kSide; ++w)
        for (std::int64_t c = 0; c < kIn; ++c)
          nchw[((n * kIn + c) * kSide + h) * kSide + w] =
              im.nhwc[((n * kSide + h) * kSide + w) * kIn + c];
  im.nchw = Tensor::from_vector(Shape{kN, kIn, kSide, kSide}, nchw);
  return im;
}

// Float32 sums of at most 36 terms of size < 1 in a different order: 1e-4 is ample, while any
// misplaced weight moves outputs by far more than that.
void expect_close(const std::vector<double>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << "at " << i;
}

std::vector<std::vector<double>> parameter_values(const Module& m) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, t] : m.named_parameters()) out.push_back(t.to_double_vector());
  return out;
}

// ----- Loading -----------------------------------------------------------------------------

class LoadEveryStyle : public ::testing::TestWithParam<KerasStyle> {};

TEST_P(LoadEveryStyle, LoadedModelComputesWhatKerasComputes) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  test::write_keras_style(path, GetParam(), keras_layers());
  auto model = kiln_model(1);
  const LoadReport report = load_weights(path, *model);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "block1_conv2", "fc1"}));
  EXPECT_TRUE(report.unused.empty());
  EXPECT_TRUE(report.missing.empty());
  const Images im = images();
  expect_close((*model)(im.nchw).to_double_vector(), keras_forward(keras_layers(), im.nhwc));
}

INSTANTIATE_TEST_SUITE_P(Keras, LoadEveryStyle, ::testing::ValuesIn(test::kEveryKerasStyle),
                         [](const auto& info) { return test::keras_style_test_name(info.param); });

// Without its declared map the Flatten is taken as 1x1, the fc1 rows stay in Keras' order and
// the outputs differ: the permutation is what makes the test above pass.
TEST(LoadWeights, FlattenOrderMattersForALargerThanOneByOneMap) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  test::write_keras_style(path, KerasStyle::TfKeras2, keras_layers());
  auto model = kiln_model(1, /*declare_map=*/false);
  load_weights(path, *model);
  const Images im = images();
  const std::vector<double> got = (*model)(im.nchw).to_double_vector();
  const std::vector<float> want = keras_forward(keras_layers(), im.nhwc);
  double max_diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    max_diff = std::max(max_diff, std::abs(got[i] - want[i]));
  EXPECT_GT(max_diff, 1e-2);
}

TEST(LoadWeights, ReportsFileLayersTheModelDoesNotUse) {
  ScratchDir dir;
  const std::string path = dir.file("with_top.h5");
  std::vector<RefLayer> layers = keras_layers();
  layers.push_back(test::dense_layer("fc2", kOut, 3, 0.4f));
  layers.push_back({"dropout", {}});
  layers.push_back(test::dense_layer("predictions", 3, 2, 0.5f));
  test::write_keras_style(path, KerasStyle::Keras1, layers);
  Generator gen(3);
  Sequential base("base");
  base.add(std::make_shared<Conv2d>("block1_conv1", kIn, kWidth, Conv2dConfig::same_relu(3), gen));
  base.add(
      std::make_shared<Conv2d>("block1_conv2", kWidth, kWidth, Conv2dConfig::same_relu(3), gen));
  base.add(std::make_shared<MaxPool2d>("block1_pool"));
  const LoadReport report = load_weights(path, base);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "block1_conv2"}));
  EXPECT_EQ(report.unused, (std::vector<std::string>{"fc1", "fc2", "predictions"}));

  LoadOptions strict;
  strict.allow_unused = false;
  const std::string msg = error_of([&] { load_weights(path, base, strict); });
  EXPECT_NE(msg.find("'fc1', 'fc2', 'predictions'"), std::string::npos) << msg;
}

TEST(LoadWeights, MissingLayerIsAnErrorUnlessAllowed) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  std::vector<RefLayer> layers = keras_layers();
  layers.erase(layers.begin() + 1);  // no block1_conv2
  test::write_keras_style(path, KerasStyle::TfKeras2, layers);
  auto model = kiln_model(1);
  const auto before = parameter_values(*model);
  const std::string msg = error_of([&] { load_weights(path, *model); });
  EXPECT_EQ(msg, path +
                     ": no weights for the model's layer(s) 'block1_conv2' (the file's layers "
                     "with weights: 'block1_conv1', 'fc1')");
  EXPECT_EQ(parameter_values(*model), before);  // untouched

  LoadOptions options;
  options.allow_missing = true;
  const LoadReport report = load_weights(path, *model, options);
  EXPECT_EQ(report.missing, std::vector<std::string>{"block1_conv2"});
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "fc1"}));
  const auto after = parameter_values(*model);
  EXPECT_NE(after[0], before[0]);  // block1_conv1/kernel loaded
  EXPECT_EQ(after[2], before[2]);  // block1_conv2/kernel kept
  EXPECT_EQ(after[3], before[3]);
}

TEST(LoadWeights, ShapeMismatchNamesFileLayerAndBothShapesAndChangesNothing) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  test::write_keras_style(path, KerasStyle::Keras1, keras_layers());
  Generator gen(5);
  Sequential model("model");
  model.add(std::make_shared<Conv2d>("block1_conv1", kIn, kWidth, Conv2dConfig::same_relu(3), gen));
  model.add(std::make_shared<Conv2d>("block1_conv2", kWidth, 8, Conv2dConfig::same_relu(3), gen));
  const auto before = parameter_values(model);
  const std::string msg = error_of([&] { load_weights(path, model); });
  EXPECT_EQ(msg, path +
                     ": layer 'block1_conv2': weight 'block1_conv2_W_1:0' has shape [3,3,4,4] "
                     "in the file but the model expects [3,3,4,8] (Keras layout of "
                     "'block1_conv2/kernel' [8,4,3,3])");
  // block1_conv1 matched and came first, yet nothing was written.
  EXPECT_EQ(parameter_values(model), before);
}

TEST(LoadWeights, WeightCountMismatchIsAnError) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  test::write_keras_style(path, KerasStyle::TfKeras2, keras_layers());
  Generator gen(5);
  Sequential model("model");
  Conv2dConfig no_bias = Conv2dConfig::same_relu(3);
  no_bias.use_bias = false;
  model.add(std::make_shared<Conv2d>("block1_conv1", kIn, kWidth, no_bias, gen));
  const std::string msg = error_of([&] { load_weights(path, model); });
  EXPECT_EQ(msg, path +
                     ": layer 'block1_conv1' has 2 weights in the file ('block1_conv1/kernel:0', "
                     "'block1_conv1/bias:0') but 1 in the model ('block1_conv1/kernel')");
}

TEST(LoadWeights, ErrorsOfTheFileLevelPassThrough) {
  ScratchDir dir;
  auto model = kiln_model(1);
  const std::string text = dir.file("weights.h5");
  std::ofstream(text) << "not weights";
  EXPECT_EQ(error_of([&] { load_weights(text, *model); }), text + ": not an HDF5 file");
  EXPECT_EQ(error_of([&] { load_weights(dir.file("none.h5"), *model); }),
            dir.file("none.h5") + ": no such file");
}

// Keras' Sequential([VGG16(include_top=False), Flatten(), Dense(...)]) saves the whole VGG16 as
// one layer, "vgg16", whose weight_names are "block1_conv1/kernel:0", ...
TEST(LoadWeights, ReadsLayersOfAKerasModelNestedInAModel) {
  ScratchDir dir;
  const std::string path = dir.file("nested.h5");
  const std::vector<RefLayer> L = keras_layers();
  {
    test::RawH5Writer w(path);
    w.string_list_attr("/", "layer_names", {"vgg16", "flatten", "fc1"});
    w.vlen_string_attr("/", "keras_version", "2.15.0");
    std::vector<std::string> entries;
    for (const RefLayer* l : {&L[0], &L[1]}) {
      for (const auto& wt : l->weights) {
        entries.push_back(l->name + "/" + wt.param + ":0");
        w.dataset("/vgg16/" + entries.back(), wt.shape, wt.values);
      }
    }
    // A layer of the inner model that the Kiln model lacks.
    entries.emplace_back("fc_extra/bias:0");
    w.dataset("/vgg16/fc_extra/bias:0", {2}, {1.f, 2.f});
    w.string_list_attr("/vgg16", "weight_names", entries);
    w.group("/flatten");
    w.string_list_attr("/flatten", "weight_names", {});
    w.dataset("/fc1/fc1/kernel:0", L[4].weights[0].shape, L[4].weights[0].values);
    w.dataset("/fc1/fc1/bias:0", L[4].weights[1].shape, L[4].weights[1].values);
    w.string_list_attr("/fc1", "weight_names", {"fc1/kernel:0", "fc1/bias:0"});
  }
  auto model = kiln_model(1);
  const LoadReport report = load_weights(path, *model);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "block1_conv2", "fc1"}));
  EXPECT_EQ(report.unused, std::vector<std::string>{"vgg16/fc_extra"});
  const Images im = images();
  expect_close((*model)(im.nchw).to_double_vector(), keras_forward(L, im.nhwc));
}

// ----- Saving ------------------------------------------------------------------------------

TEST(SaveWeights, WritesKerasLayoutWithHwioKernelsAndNhwcDenseRows) {
  ScratchDir dir;
  const std::string path = dir.file("saved.h5");
  auto model = kiln_model(11);
  save_weights(path, *model);

  EXPECT_EQ(
      test::read_raw_attr(path, "/", "layer_names").strings,
      (std::vector<std::string>{"block1_conv1", "block1_conv2", "block1_pool", "flatten", "fc1"}));
  EXPECT_EQ(test::read_raw_attr(path, "/", "backend").strings,
            std::vector<std::string>{"tensorflow"});
  EXPECT_EQ(test::read_raw_attr(path, "/", "keras_version").strings,
            std::vector<std::string>{"2.15.0"});
  EXPECT_EQ(test::read_raw_attr(path, "/block1_pool", "weight_names").count, 0);
  EXPECT_EQ(test::read_raw_attr(path, "/flatten", "weight_names").count, 0);
  EXPECT_EQ(test::read_raw_attr(path, "/fc1", "weight_names").strings,
            (std::vector<std::string>{"fc1/kernel:0", "fc1/bias:0"}));

  // Conv kernel: Kiln (K, C, R, S) -> file (R, S, C, K).
  const auto conv = std::dynamic_pointer_cast<Conv2d>(model->find("block1_conv2"));
  const std::vector<double> oihw = conv->kernel().to_double_vector();
  const test::RawDataset hwio = test::read_raw_dataset(path, "/block1_conv2/block1_conv2/kernel:0");
  ASSERT_TRUE(hwio.found);
  EXPECT_TRUE(hwio.float32);
  ASSERT_EQ(hwio.shape, (std::vector<std::int64_t>{3, 3, kWidth, kWidth}));
  for (std::int64_t k = 0; k < kWidth; ++k)
    for (std::int64_t c = 0; c < kWidth; ++c)
      for (std::int64_t r = 0; r < 3; ++r)
        for (std::int64_t s = 0; s < 3; ++s)
          ASSERT_EQ(hwio.values[((r * 3 + s) * kWidth + c) * kWidth + k],
                    static_cast<float>(oihw[((k * kWidth + c) * 3 + r) * 3 + s]));

  // Dense after a 4x2x2 Flatten: Kiln row c*4 + h*2 + w -> file row (h*2 + w)*4 + c.
  const auto fc1 = std::dynamic_pointer_cast<Dense>(model->find("fc1"));
  const std::vector<double> rows = fc1->kernel().to_double_vector();
  const test::RawDataset file_rows = test::read_raw_dataset(path, "/fc1/fc1/kernel:0");
  ASSERT_EQ(file_rows.shape, (std::vector<std::int64_t>{16, kOut}));
  for (std::int64_t c = 0; c < kWidth; ++c)
    for (std::int64_t hw = 0; hw < 4; ++hw)
      for (std::int64_t o = 0; o < kOut; ++o)
        ASSERT_EQ(file_rows.values[(hw * kWidth + c) * kOut + o],
                  static_cast<float>(rows[(c * 4 + hw) * kOut + o]));
  EXPECT_EQ(test::read_raw_dataset(path, "/fc1/fc1/bias:0").shape, std::vector<std::int64_t>{kOut});
}

TEST(SaveWeights, RoundTripGivesIdenticalParametersToADifferentlyInitialisedModel) {
  ScratchDir dir;
  const std::string path = dir.file("rt.h5");
  auto a = kiln_model(21);
  // Biases start at zero; make them count.
  Generator gen(4);
  for (auto& [name, t] : a->named_parameters()) {
    if (name.find("bias") != std::string::npos) t.copy_from(Tensor::uniform(t.shape(), -1, 1, gen));
  }
  save_weights(path, *a);
  auto b = kiln_model(22);
  ASSERT_NE(parameter_values(*a), parameter_values(*b));
  const LoadReport report = load_weights(path, *b);
  EXPECT_EQ(report.loaded.size(), 3u);
  EXPECT_EQ(parameter_values(*a), parameter_values(*b));
}

// Keras' nested layout: the base as one layer whose weight_names list its layers' weights, in
// order (what Keras' legacy loader assigns by order), read back to the same parameters.
TEST(SaveWeights, NestedLayoutKeepsTheBaseAsOneLayerAndRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.file("nested.h5");
  auto a = kiln_model(21);
  write_keras_weights(path, model_to_keras_weights(*a, {"base"}));
  EXPECT_EQ(test::read_raw_attr(path, "/", "layer_names").strings,
            (std::vector<std::string>{"base", "flatten", "fc1"}));
  EXPECT_EQ(test::read_raw_attr(path, "/base", "weight_names").strings,
            (std::vector<std::string>{"block1_conv1/kernel:0", "block1_conv1/bias:0",
                                      "block1_conv2/kernel:0", "block1_conv2/bias:0"}));
  EXPECT_EQ(test::read_raw_dataset(path, "/base/block1_conv2/kernel:0").shape,
            (std::vector<std::int64_t>{3, 3, kWidth, kWidth}));
  auto b = kiln_model(22);
  const LoadReport report = load_weights(path, *b);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"block1_conv1", "block1_conv2", "fc1"}));
  EXPECT_TRUE(report.unused.empty());
  EXPECT_EQ(parameter_values(*a), parameter_values(*b));
  EXPECT_EQ(error_of([&] { model_to_keras_weights(*a, {"vgg16"}); }),
            "weights: the model has no part 'vgg16' to nest");
}

// Keras file in, Kiln file out: the same bytes of weight values Keras wrote, in Keras' layout.
TEST(SaveWeights, KerasFileLoadedThenSavedHoldsTheOriginalValues) {
  ScratchDir dir;
  const std::string in = dir.file("keras.h5"), out = dir.file("kiln.h5");
  test::write_keras_style(in, KerasStyle::Keras1, keras_layers());
  auto model = kiln_model(1);
  load_weights(in, *model);
  save_weights(out, *model);
  for (const RefLayer& l : keras_layers()) {
    for (const auto& wt : l.weights) {
      const test::RawDataset d =
          test::read_raw_dataset(out, "/" + l.name + "/" + l.name + "/" + wt.param + ":0");
      EXPECT_EQ(d.shape, wt.shape) << l.name;
      EXPECT_EQ(d.values, wt.values) << l.name << " " << wt.param;
    }
  }
}

TEST(SaveWeights, FailedSaveLeavesTheExistingFileUntouched) {
  ScratchDir dir;
  const std::string path = dir.file("good.h5");
  auto model = kiln_model(1);
  save_weights(path, *model);
  const std::vector<char> before = test::file_bytes(path);
  std::filesystem::create_directory(path + ".tmp-" + std::to_string(::getpid()));
  EXPECT_THROW(save_weights(path, *kiln_model(2)), Error);
  EXPECT_EQ(test::file_bytes(path), before);
}

// ----- Full size ---------------------------------------------------------------------------

// The real VGG16 base from a file in the official files' style (Keras 1 names, an input layer,
// no versions; 58 MB written here). Checks the wiring at full size and that it is quick.
TEST(LoadWeights, Vgg16BaseFromAnOfficialStyleFile) {
  ScratchDir dir;
  const std::string path = dir.file("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5");
  std::vector<RefLayer> layers = {{"input_1", {}}};
  const std::vector<std::vector<std::int64_t>> blocks = {
      {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  std::int64_t channels = 3;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    for (std::size_t i = 0; i < blocks[b].size(); ++i) {
      const std::string name = "block" + std::to_string(b + 1) + "_conv" + std::to_string(i + 1);
      layers.push_back(
          test::conv_layer(name, channels, blocks[b][i], 0.01f * static_cast<float>(b * 3 + i)));
      channels = blocks[b][i];
    }
    layers.push_back({"block" + std::to_string(b + 1) + "_pool", {}});
  }
  test::write_keras_style(path, KerasStyle::Keras1, layers);

  Generator gen(1);
  auto base = vgg16_base(gen);
  const auto start = std::chrono::steady_clock::now();
  const LoadReport report = load_weights(path, *base);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(report.loaded.size(), 13u);
  EXPECT_TRUE(report.unused.empty());
  EXPECT_EQ(base->parameter_count(), 14714688);
  // Spot-check the last kernel's transpose: Kiln [k][c][r][s] = file [r][s][c][k].
  const RefLayer& last = layers[layers.size() - 2];
  ASSERT_EQ(last.name, "block5_conv3");
  const std::vector<float> kernel =
      base->layer<Conv2d>("block5_conv3")->kernel().to_vector<float>();
  for (std::int64_t k : {0, 7, 511})
    for (std::int64_t c : {0, 300, 511})
      for (std::int64_t r : {0, 2})
        for (std::int64_t s : {1, 2})
          EXPECT_EQ(kernel[((k * 512 + c) * 3 + r) * 3 + s],
                    last.weights[0].values[((r * 3 + s) * 512 + c) * 512 + k]);
  EXPECT_EQ(base->layer<Conv2d>("block1_conv1")->bias().to_vector<float>(),
            layers[1].weights[1].values);
  RecordProperty("load_seconds", std::to_string(seconds));
#ifdef NDEBUG
  EXPECT_LT(seconds, 5.0);  // optimised builds only: sanitizers slow everything down
#endif
}

}  // namespace
}  // namespace kiln
