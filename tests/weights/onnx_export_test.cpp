// ONNX export (weights/onnx_export.h): the written graph passes ONNX's checker, has the expected
// structure, and computes what Kiln computes, which a test-only interpreter of the parsed graph
// (tests/weights/onnx_reference.h) shows on random inputs and random weights.
#include "weights/onnx_export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/autograd.h"
#include "core/functions.h"
#include "core/random.h"
#include "data/preprocess.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "layers/vgg16.h"
#include "tests/support/test_data.h"

#ifdef KILN_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "tests/weights/onnx_reference.h"
#endif

namespace kiln::test {
namespace {

// A height different from the width, so a swapped H and W cannot pass.
constexpr std::int64_t kH = 10, kW = 8, kClasses = 5;

// conv (same, ReLU) -> pool -> conv (valid, no bias) -> flatten -> dense (ReLU) -> dropout ->
// relu -> dense: every layer kind, in a base and a head as vgg16_classifier nests them, with
// uniform random weights and biases (bias 0, the initialiser's, would hide a bias mix-up).
std::shared_ptr<Sequential> tiny_classifier(std::uint64_t seed, double first_kernel_scale = 1) {
  Generator gen(seed);
  auto base = std::make_shared<Sequential>("base");
  base->add(std::make_shared<Conv2d>("conv_a", 3, 4, Conv2dConfig::same_relu(3), gen));
  base->add(std::make_shared<MaxPool2d>("pool_a"));
  Conv2dConfig valid;
  valid.padding = Padding::Valid;
  valid.use_bias = false;
  base->add(std::make_shared<Conv2d>("conv_b", 4, 6, valid, gen));  // (6, 3, 2) out
  auto head = std::make_shared<Sequential>("head");
  head->add(std::make_shared<Flatten>("flatten", MapShape{6, 3, 2}));
  head->add(std::make_shared<Dense>("dense", 36, 16, Activation::ReLU, gen));
  head->add(std::make_shared<Dropout>("dropout", 0.5, 7));
  head->add(std::make_shared<ReLU>("relu"));
  head->add(std::make_shared<Dense>("dense_1", 16, kClasses, Activation::None, gen));
  auto model = std::make_shared<Sequential>("classifier");
  model->add(base);
  model->add(head);
  std::uint64_t s = seed * 100;
  for (auto& [name, t] : model->named_parameters()) {
    const double scale = name == "conv_a/kernel" ? first_kernel_scale : 1.0;
    const std::vector<float> v = random_floats(t.numel(), ++s, -0.5f, 0.5f);
    float* d = t.data<float>();
    for (std::int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<float>(v[i] * scale);
  }
  model->eval();
  return model;
}

OnnxExportOptions tiny_options(bool raw_input) {
  OnnxExportOptions o;
  o.height = kH;
  o.width = kW;
  o.raw_input = raw_input;
  o.mean_bgr = {kVggMeanBgr[0], kVggMeanBgr[1], kVggMeanBgr[2]};
  o.class_names = {"cat", "dog", "ship", "truck", "frog \"quoted\""};
  o.metadata = {{"kiln_image_size", "10x8"}};
  return o;
}

#ifdef KILN_WITH_ONNX

// Kiln's own logits for a float NCHW batch.
std::vector<float> kiln_logits(Module& model, const std::vector<float>& x, std::int64_t n) {
  NoGradGuard no_grad;
  return model.forward(Tensor::from_vector(Shape{n, 3, kH, kW}, x)).to_vector<float>();
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::vector<std::string> op_types(const onnx::ModelProto& m) {
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}

const onnx::TensorProto* initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

std::vector<std::int64_t> dims_of(const onnx::TensorProto& t) {
  return {t.dims().begin(), t.dims().end()};
}

std::vector<std::int64_t> input_dims(const onnx::ValueInfoProto& v) {
  std::vector<std::int64_t> d;
  for (const auto& dim : v.type().tensor_type().shape().dim()) {
    d.push_back(dim.has_dim_value() ? dim.dim_value() : -1);  // -1: symbolic
  }
  return d;
}

std::string metadata(const onnx::ModelProto& m, const std::string& key) {
  for (const auto& p : m.metadata_props()) {
    if (p.key() == key) return p.value();
  }
  return "<absent>";
}

TEST(OnnxExport, WritesACheckedOpset17GraphOfTheLayers) {
  const auto model = tiny_classifier(1);
  const onnx::ModelProto m = parse(onnx_model_bytes(*model, tiny_options(false)));
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.producer_name(), "kiln");
  // Dropout leaves no node; fused ReLUs become their own.
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Conv", "Relu", "MaxPool", "Conv", "Flatten",
                                                   "Gemm", "Relu", "Relu", "Gemm", "Softmax"}));
  std::vector<std::string> names;
  for (const auto& n : m.graph().node()) names.push_back(n.name());
  EXPECT_EQ(names, (std::vector<std::string>{"conv_a", "conv_a/relu", "pool_a", "conv_b", "flatten",
                                             "dense", "dense/relu", "relu", "dense_1", "softmax"}));
  // OIHW conv kernels, (in, out) Gemm kernels; conv_b has no bias.
  const std::vector<std::pair<std::string, std::vector<std::int64_t>>> want = {
      {"conv_a/kernel", {4, 3, 3, 3}}, {"conv_a/bias", {4}}, {"conv_b/kernel", {6, 4, 3, 3}},
      {"dense/kernel", {36, 16}},      {"dense/bias", {16}}, {"dense_1/kernel", {16, kClasses}},
      {"dense_1/bias", {kClasses}}};
  EXPECT_EQ(m.graph().initializer_size(), static_cast<int>(want.size()));
  for (const auto& [name, dims] : want) {
    const onnx::TensorProto* t = initializer(m, name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(dims_of(*t), dims) << name;
    EXPECT_EQ(t->data_type(), onnx::TensorProto::FLOAT) << name;
  }
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(input_dims(m.graph().input(0)), (std::vector<std::int64_t>{-1, 3, kH, kW}));
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "probabilities");
  EXPECT_EQ(input_dims(m.graph().output(0)), (std::vector<std::int64_t>{-1, kClasses}));
  EXPECT_EQ(metadata(m, "class_names"), R"(["cat","dog","ship","truck","frog \"quoted\""])");
  EXPECT_EQ(metadata(m, "kiln_image_size"), "10x8");
}

TEST(OnnxExport, RawInputTakesUint8PixelsAndPreprocessesInTheGraph) {
  const onnx::ModelProto m = parse(onnx_model_bytes(*tiny_classifier(1), tiny_options(true)));
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "pixels");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::UINT8);
  EXPECT_EQ(input_dims(m.graph().input(0)), (std::vector<std::int64_t>{-1, kH, kW, 3}));
  const std::vector<std::string> ops = op_types(m);
  ASSERT_GE(ops.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(ops.begin(), ops.begin() + 5),
            (std::vector<std::string>{"Cast", "Transpose", "Gather", "Sub", "Conv"}));
  const onnx::TensorProto* mean = initializer(m, "preprocess/mean_bgr");
  ASSERT_NE(mean, nullptr);
  EXPECT_EQ(dims_of(*mean), (std::vector<std::int64_t>{1, 3, 1, 1}));
  ASSERT_EQ(mean->float_data_size(), 3);
  EXPECT_FLOAT_EQ(mean->float_data(0), 103.939f);  // B first: the mean is subtracted after BGR
  EXPECT_FLOAT_EQ(mean->float_data(2), 123.68f);
}

// Tolerance: Kiln computes in float32 (oneDNN convolutions, BLAS GEMMs, each with its own
// summation order), the interpreter in double. Each value here is a sum of at most 36 products
// of numbers below 1 in size, so float32 rounding (2^-24 relative per operation) moves a layer's
// output by about 36 * 6e-8 * sum|terms|, ~2e-6 of the values' scale, and four layers compound it
// to ~1e-5. The check allows 1e-4 of (1 + the largest logit); a graph with a wrong layout (the
// Flatten below in NHWC order, a kernel read HWIO, H and W swapped) is off by O(1). Measured on
// the 2-core development VM: about 3e-7.
double max_relative_logit_error(const std::vector<float>& kiln, const RefTensor& ref) {
  double scale = 1, worst = 0;
  for (const double v : ref.v) scale = std::max(scale, 1 + std::abs(v));
  for (std::size_t i = 0; i < kiln.size(); ++i) {
    worst = std::max(worst, std::abs(kiln[i] - ref.v[i]) / scale);
  }
  return worst;
}

constexpr double kLogitTolerance = 1e-4;

TEST(OnnxExport, TheGraphComputesWhatKilnComputes) {
  constexpr std::int64_t n = 3;
  for (const std::uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto model = tiny_classifier(seed);
    const onnx::ModelProto m = parse(onnx_model_bytes(*model, tiny_options(false)));
    const std::vector<float> x = random_floats(n * 3 * kH * kW, seed + 50, -2, 2);
    const std::vector<float> logits = kiln_logits(*model, x, n);
    const std::vector<float> probs =
        softmax(Tensor::from_vector(Shape{n, kClasses}, logits)).to_vector<float>();

    RefTensor in;
    in.dims = {n, 3, kH, kW};
    in.v.assign(x.begin(), x.end());
    const auto values = OnnxReference(m).run("input", in);
    const RefTensor& ref_logits = values.at("dense_1");
    const RefTensor& ref_probs = values.at("probabilities");
    ASSERT_EQ(ref_logits.dims, (std::vector<std::int64_t>{n, kClasses}));
    const double err = max_relative_logit_error(logits, ref_logits);
    EXPECT_LE(err, kLogitTolerance);
    double prob_err = 0;
    for (std::size_t i = 0; i < probs.size(); ++i) {
      prob_err = std::max(prob_err, std::abs(probs[i] - ref_probs.v[i]));
    }
    EXPECT_LE(prob_err, kLogitTolerance);
    std::printf("seed %d: logits max error %.2g of scale, probabilities max |diff| %.2g\n",
                static_cast<int>(seed), err, prob_err);
  }
}

// A BatchNorm2d exports as ONNX's BatchNormalization in inference mode, with Keras' weights as its
// four inputs: the graph computes what Kiln's evaluation computes, moving statistics and all.
TEST(OnnxExport, BatchNormExportsWithItsMovingStatistics) {
  constexpr std::int64_t n = 2;
  Generator gen(3);
  auto model = std::make_shared<Sequential>("bn_classifier");
  model->add(std::make_shared<Conv2d>("conv", 3, 4, Conv2dConfig::same_relu(3), gen));
  model->add(std::make_shared<BatchNorm2d>("bn", 4));
  model->add(std::make_shared<Flatten>("flatten", MapShape{4, kH, kW}));
  model->add(std::make_shared<Dense>("dense", 4 * kH * kW, kClasses, Activation::None, gen));
  std::uint64_t s = 900;
  for (Tensor t : model->state()) {
    const std::vector<float> v = random_floats(t.numel(), ++s, 0.2f, 1.2f);  // variances > 0
    std::copy(v.begin(), v.end(), t.data<float>());
  }
  model->eval();
  const onnx::ModelProto m = parse(onnx_model_bytes(*model, tiny_options(false)));
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Conv", "Relu", "BatchNormalization", "Flatten",
                                                   "Gemm", "Softmax"}));
  ASSERT_NE(initializer(m, "bn/moving_variance"), nullptr);
  const std::vector<float> x = random_floats(n * 3 * kH * kW, 77, -2, 2);
  RefTensor in;
  in.dims = {n, 3, kH, kW};
  in.v.assign(x.begin(), x.end());
  EXPECT_LE(max_relative_logit_error(kiln_logits(*model, x, n),
                                     OnnxReference(m).run("input", in).at("dense")),
            kLogitTolerance);
}

TEST(OnnxExport, RawInputGraphComputesKilnsPreprocessingAndForward) {
  constexpr std::int64_t n = 2;
  // Preprocessed pixels reach +-150: a smaller first kernel keeps the logits in a range where
  // the comparison means something (large logits saturate the softmax).
  const auto model = tiny_classifier(4, 1.0 / 128);
  const onnx::ModelProto m = parse(onnx_model_bytes(*model, tiny_options(true)));
  const std::vector<std::int32_t> px = random_ints(n * kH * kW * 3, 9, 0, 256);
  std::vector<std::uint8_t> pixels(px.begin(), px.end());
  std::vector<float> x(static_cast<std::size_t>(n * 3 * kH * kW));
  for (std::int64_t i = 0; i < n; ++i) {
    vgg_preprocess(pixels.data() + i * kH * kW * 3, kH, kW, x.data() + i * 3 * kH * kW);
  }
  const std::vector<float> logits = kiln_logits(*model, x, n);

  RefTensor in;
  in.type = onnx::TensorProto::UINT8;
  in.dims = {n, kH, kW, 3};
  in.v.assign(pixels.begin(), pixels.end());
  const auto values = OnnxReference(m).run("pixels", in);
  const RefTensor& pre = values.at("preprocess/input");
  ASSERT_EQ(pre.v.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(pre.v[i], x[i], 1e-4) << i;
  const double err = max_relative_logit_error(logits, values.at("dense_1"));
  EXPECT_LE(err, kLogitTolerance);
  std::printf("raw input: logits max error %.2g of scale\n", err);
}

// The comparison above can fail: the same graph with a Transpose to NHWC before Flatten (Keras'
// order, wrong for Kiln's Dense kernel) computes something else.
TEST(OnnxExport, TheComparisonCatchesAnNhwcFlatten) {
  const auto model = tiny_classifier(1);
  onnx::ModelProto m = parse(onnx_model_bytes(*model, tiny_options(false)));
  onnx::GraphProto& g = *m.mutable_graph();
  for (int i = 0; i < g.node_size(); ++i) {
    if (g.node(i).op_type() != "Flatten") continue;
    onnx::NodeProto t;
    t.set_op_type("Transpose");
    t.set_name("to_nhwc");
    t.add_input(g.node(i).input(0));
    t.add_output("nhwc");
    onnx::AttributeProto& perm = *t.add_attribute();
    perm.set_name("perm");
    perm.set_type(onnx::AttributeProto::INTS);
    for (const int p : {0, 2, 3, 1}) perm.add_ints(p);
    g.mutable_node(i)->set_input(0, "nhwc");
    g.add_node()->CopyFrom(t);
    // Move the new node before the Flatten.
    for (int j = g.node_size() - 1; j > i; --j) g.mutable_node()->SwapElements(j, j - 1);
    break;
  }
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  constexpr std::int64_t n = 2;
  const std::vector<float> x = random_floats(n * 3 * kH * kW, 51, -2, 2);
  RefTensor in;
  in.dims = {n, 3, kH, kW};
  in.v.assign(x.begin(), x.end());
  const double err = max_relative_logit_error(kiln_logits(*model, x, n),
                                              OnnxReference(m).run("input", in).at("dense_1"));
  EXPECT_GT(err, 100 * kLogitTolerance);
}

TEST(OnnxExport, TheWholeVgg16ClassifierExports) {
  Generator gen(3);
  HeadOptions head;
  head.hidden = 8;
  const auto model = vgg16_classifier(32, head, gen);
  model->eval();
  OnnxExportOptions o;
  o.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  const onnx::ModelProto m = parse(onnx_model_bytes(*model, o));
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  const std::vector<std::string> ops = op_types(m);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Conv"), 13);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "MaxPool"), 5);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Relu"), 14);  // 13 convolutions and dense
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Gemm"), 2);
  const onnx::TensorProto* k = initializer(m, "block5_conv3/kernel");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(dims_of(*k), (std::vector<std::int64_t>{512, 512, 3, 3}));
  const onnx::TensorProto* d = initializer(m, "dense/kernel");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(dims_of(*d), (std::vector<std::int64_t>{512, 8}));
}

class UnknownLayer : public Module {
 public:
  UnknownLayer() : Module("my_custom_layer") {}
  Tensor forward(const Tensor& x) override { return x; }
};

TEST(OnnxExport, RefusesAnUnsupportedLayerByName) {
  auto model = tiny_classifier(1);
  std::dynamic_pointer_cast<Sequential>(model->layer("head"))
      ->add(std::make_shared<UnknownLayer>());
  try {
    onnx_model_bytes(*model, tiny_options(false));
    FAIL() << "exported a layer it does not know";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'my_custom_layer'"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, RefusesAMismatchedInputSizeNamingTheLayer) {
  OnnxExportOptions o = tiny_options(false);
  o.height = 12;  // flatten then sees (6, 4, 2) maps, not (6, 3, 2)
  try {
    onnx_model_bytes(*tiny_classifier(1), o);
    FAIL() << "exported a graph whose shapes do not fit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'flatten'"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, AnUnwritablePathLeavesNothingBehind) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "kiln_onnx_unwritable";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::FILE* f = std::fopen((dir / "a_file").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  const std::string path = (dir / "a_file" / "model.onnx").string();  // a file is no folder
  try {
    export_onnx(path, *tiny_classifier(1), tiny_options(false));
    FAIL() << "wrote into a file as if it were a folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    left.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(left, std::vector<std::string>{"a_file"});
  std::filesystem::remove_all(dir);
}

TEST(OnnxExport, WritesTheFileAtomically) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "kiln_onnx_write";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.onnx").string();
  const auto model = tiny_classifier(1);
  export_onnx(path, *model, tiny_options(false));
  EXPECT_NO_THROW(onnx::checker::check_model(path));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary left beside it
  std::filesystem::remove_all(dir);
}

#else  // no libonnx in this build

TEST(OnnxExport, SaysTheBuildHasNoOnnxSupport) {
  EXPECT_FALSE(onnx_export_supported());
  try {
    onnx_model_bytes(*tiny_classifier(1), tiny_options(false));
    FAIL() << "exported without libonnx";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no ONNX support"), std::string::npos) << e.what();
  }
}

#endif

}  // namespace
}  // namespace kiln::test
