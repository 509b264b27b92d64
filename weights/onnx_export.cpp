// ONNX export (weights/onnx_export.h): walks the model's leaf layers in order, tracking the shape
// of one image, and appends one or two nodes per layer.
#include "weights/onnx_export.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "weights/durable_file.h"

#ifdef KILN_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif

namespace kiln {

#ifndef KILN_WITH_ONNX

bool onnx_export_supported() { return false; }

std::string onnx_model_bytes(const Module&, const OnnxExportOptions&) {
  KILN_FAIL(
      "this build has no ONNX support (CMake found no libonnx-dev/libprotobuf-dev; run "
      "scripts/setup, then rebuild)");
}

#else

namespace {

// The shape of one image between layers: a (c, h, w) map, or (features) after Flatten.
struct ImageShape {
  bool map = true;
  std::int64_t c = 0, h = 0, w = 0, features = 0;
};

std::string shape_text(const ImageShape& s) {
  return s.map ? detail::concat("(", s.c, ",", s.h, ",", s.w, ")")
               : detail::concat("(", s.features, ")");
}

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto& graph) : graph_(graph) {}

  onnx::NodeProto& node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto& n = *graph_.add_node();
    n.set_op_type(op);
    n.set_name(name);
    for (const std::string& in : inputs) n.add_input(in);
    n.add_output(output);
    return n;
  }

  // A float initializer of that shape; the tensor goes to CPU float32 first.
  void initializer(const std::string& name, const Tensor& t,
                   const std::vector<std::int64_t>& dims) {
    const Tensor cpu = t.to(Device::CPU).to(DType::Float32);
    onnx::TensorProto& p = *graph_.add_initializer();
    p.set_name(name);
    p.set_data_type(onnx::TensorProto::FLOAT);
    std::int64_t n = 1;
    for (const std::int64_t d : dims) {
      p.add_dims(d);
      n *= d;
    }
    KILN_CHECK(n == cpu.numel(), "ONNX export: parameter '", name, "' has ", cpu.numel(),
               " values, its ONNX shape ", n);
    // raw_data is little-endian IEEE floats, the host's own layout on every machine Kiln runs on.
    p.set_raw_data(cpu.raw_data(), cpu.nbytes());
  }

  void initializer(const std::string& name, onnx::TensorProto_DataType type,
                   const std::vector<std::int64_t>& dims, const std::vector<float>& floats,
                   const std::vector<std::int64_t>& ints) {
    onnx::TensorProto& p = *graph_.add_initializer();
    p.set_name(name);
    p.set_data_type(type);
    for (const std::int64_t d : dims) p.add_dims(d);
    for (const float f : floats) p.add_float_data(f);
    for (const std::int64_t i : ints) p.add_int64_data(i);
  }

 private:
  onnx::GraphProto& graph_;
};

void ints_attribute(onnx::NodeProto& n, const char* name, const std::vector<std::int64_t>& v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (const std::int64_t x : v) a.add_ints(x);
}

void int_attribute(onnx::NodeProto& n, const char* name, std::int64_t v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(v);
}

void float_attribute(onnx::NodeProto& n, const char* name, float v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(v);
}

// A graph input or output: elem_type with a symbolic batch "N" then fixed dims.
void value_info(onnx::ValueInfoProto& v, const std::string& name, int elem_type,
                const std::vector<std::int64_t>& dims) {
  v.set_name(name);
  onnx::TypeProto_Tensor& t = *v.mutable_type()->mutable_tensor_type();
  t.set_elem_type(elem_type);
  t.mutable_shape()->add_dim()->set_dim_param("N");
  for (const std::int64_t d : dims) t.mutable_shape()->add_dim()->set_dim_value(d);
}

// Kiln's "same" padding (layers/conv2d.cpp): symmetric, or the layer's own error.
std::int64_t same_pad(const std::string& layer, std::int64_t in, std::int64_t kernel,
                      std::int64_t stride) {
  const std::int64_t out = (in + stride - 1) / stride;
  const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + kernel - in, 0);
  KILN_CHECK(total % 2 == 0, "ONNX export: layer '", layer, "': padding \"same\" on ", in,
             " with kernel ", kernel, " and stride ", stride,
             " is asymmetric, which Kiln's conv2d cannot compute either");
  return total / 2;
}

std::int64_t out_size(const std::string& layer, std::int64_t in, std::int64_t kernel,
                      std::int64_t stride, std::int64_t pad) {
  KILN_CHECK(in + 2 * pad >= kernel, "ONNX export: layer '", layer, "': window ", kernel,
             " is larger than its padded input ", in + 2 * pad);
  return (in + 2 * pad - kernel) / stride + 1;
}

class Exporter {
 public:
  Exporter(onnx::GraphProto& graph, std::string input, ImageShape shape)
      : g_(graph), value_(std::move(input)), shape_(shape) {}

  void layer(const Module& m) {
    if (const auto* s = dynamic_cast<const Sequential*>(&m)) {
      for (const auto& child : s->layers()) layer(*child);
    } else if (const auto* c = dynamic_cast<const Conv2d*>(&m)) {
      conv(*c);
    } else if (const auto* p = dynamic_cast<const MaxPool2d*>(&m)) {
      pool(*p);
    } else if (dynamic_cast<const ReLU*>(&m) != nullptr) {
      relu(m.name(), m.name());
    } else if (dynamic_cast<const Dropout*>(&m) != nullptr) {
      // Evaluation's dropout is the identity: no node, the value passes through.
    } else if (const auto* f = dynamic_cast<const Flatten*>(&m)) {
      flatten(*f);
    } else if (const auto* d = dynamic_cast<const Dense*>(&m)) {
      dense(*d);
    } else if (const auto* b = dynamic_cast<const BatchNorm2d*>(&m)) {
      batch_norm(*b);
    } else {
      KILN_FAIL(
          "ONNX export: layer '", m.name(), "' is of a type the exporter does not support ",
          "(Conv2d, MaxPool2d, ReLU, Dropout, Flatten, Dense, BatchNorm2d and Sequential are)");
    }
  }

  const std::string& value() const { return value_; }
  const ImageShape& shape() const { return shape_; }

 private:
  void need_map(const Module& m) {
    KILN_CHECK(shape_.map, "ONNX export: layer '", m.name(), "' needs (C,H,W) maps, gets ",
               shape_text(shape_));
  }

  void relu(const std::string& node_name, const std::string& output) {
    g_.node("Relu", node_name, {value_}, output);
    value_ = output;
  }

  void conv(const Conv2d& c) {
    need_map(c);
    const Conv2dConfig& k = c.config();
    KILN_CHECK(shape_.c == c.in_channels(), "ONNX export: layer '", c.name(), "' takes ",
               c.in_channels(), " channels, gets ", shape_text(shape_));
    std::int64_t ph = k.pad_h, pw = k.pad_w;
    if (k.padding == Padding::Valid) ph = pw = 0;
    if (k.padding == Padding::Same) {
      ph = same_pad(c.name(), shape_.h, k.kernel_h, k.stride_h);
      pw = same_pad(c.name(), shape_.w, k.kernel_w, k.stride_w);
    }
    const std::string kernel = c.name() + "/kernel", bias = c.name() + "/bias";
    g_.initializer(kernel, c.kernel(), {c.out_channels(), c.in_channels(), k.kernel_h, k.kernel_w});
    std::vector<std::string> inputs = {value_, kernel};
    if (k.use_bias) {
      g_.initializer(bias, c.bias(), {c.out_channels()});
      inputs.push_back(bias);
    }
    onnx::NodeProto& n = g_.node("Conv", c.name(), inputs, c.name());
    ints_attribute(n, "kernel_shape", {k.kernel_h, k.kernel_w});
    ints_attribute(n, "strides", {k.stride_h, k.stride_w});
    ints_attribute(n, "pads", {ph, pw, ph, pw});
    ints_attribute(n, "dilations", {1, 1});
    int_attribute(n, "group", 1);
    value_ = c.name();
    shape_.c = c.out_channels();
    shape_.h = out_size(c.name(), shape_.h, k.kernel_h, k.stride_h, ph);
    shape_.w = out_size(c.name(), shape_.w, k.kernel_w, k.stride_w, pw);
    if (k.activation == Activation::ReLU) relu(c.name() + "/relu", c.name() + "/relu");
  }

  void pool(const MaxPool2d& p) {
    need_map(p);
    const Pool2dOptions& o = p.options();
    // NOTE: ONNX pads MaxPool with -inf, and Kiln's padding never wins a window: the same maxima.
    onnx::NodeProto& n = g_.node("MaxPool", p.name(), {value_}, p.name());
    ints_attribute(n, "kernel_shape", {o.kernel_h, o.kernel_w});
    ints_attribute(n, "strides", {o.stride_h, o.stride_w});
    ints_attribute(n, "pads", {o.pad_h, o.pad_w, o.pad_h, o.pad_w});
    value_ = p.name();
    shape_.h = out_size(p.name(), shape_.h, o.kernel_h, o.stride_h, o.pad_h);
    shape_.w = out_size(p.name(), shape_.w, o.kernel_w, o.stride_w, o.pad_w);
  }

  void flatten(const Flatten& f) {
    need_map(f);
    if (f.input_map()) {
      const MapShape& m = *f.input_map();
      KILN_CHECK(m.c == shape_.c && m.h == shape_.h && m.w == shape_.w, "ONNX export: layer '",
                 f.name(), "' expects (", m.c, ",", m.h, ",", m.w, ") maps, gets ",
                 shape_text(shape_));
    }
    // NCHW order, as Kiln's flatten and its Dense kernel rows (see the header's NOTE).
    onnx::NodeProto& n = g_.node("Flatten", f.name(), {value_}, f.name());
    int_attribute(n, "axis", 1);
    value_ = f.name();
    shape_ = ImageShape{false, 0, 0, 0, shape_.c * shape_.h * shape_.w};
  }

  void dense(const Dense& d) {
    KILN_CHECK(!shape_.map, "ONNX export: layer '", d.name(), "' needs flat features, gets ",
               shape_text(shape_), " (a Flatten before it?)");
    KILN_CHECK(shape_.features == d.in_features(), "ONNX export: layer '", d.name(), "' takes ",
               d.in_features(), " features, gets ", shape_.features);
    const std::string kernel = d.name() + "/kernel", bias = d.name() + "/bias";
    g_.initializer(kernel, d.kernel(), {d.in_features(), d.out_features()});
    std::vector<std::string> inputs = {value_, kernel};
    if (d.bias().defined()) {
      g_.initializer(bias, d.bias(), {d.out_features()});
      inputs.push_back(bias);
    }
    // Gemm: Y = 1.0 * A @ B + 1.0 * C, B = the (in, out) kernel as Kiln and Keras keep it.
    onnx::NodeProto& n = g_.node("Gemm", d.name(), inputs, d.name());
    float_attribute(n, "alpha", 1.0f);
    float_attribute(n, "beta", 1.0f);
    int_attribute(n, "transA", 0);
    int_attribute(n, "transB", 0);
    value_ = d.name();
    shape_.features = d.out_features();
    if (d.activation() == Activation::ReLU) relu(d.name() + "/relu", d.name() + "/relu");
  }

  // Inference mode (ONNX's default, training_mode 0): the moving statistics, as Kiln's evaluation.
  void batch_norm(const BatchNorm2d& b) {
    need_map(b);
    KILN_CHECK(shape_.c == b.channels(), "ONNX export: layer '", b.name(), "' takes ", b.channels(),
               " channels, gets ", shape_text(shape_));
    std::vector<std::string> inputs = {value_};
    for (const auto& [what, t] : {std::pair<const char*, const Tensor&>{"gamma", b.gamma()},
                                  {"beta", b.beta()},
                                  {"moving_mean", b.moving_mean()},
                                  {"moving_variance", b.moving_variance()}}) {
      inputs.push_back(b.name() + "/" + what);
      g_.initializer(inputs.back(), t, {b.channels()});
    }
    onnx::NodeProto& n = g_.node("BatchNormalization", b.name(), inputs, b.name());
    float_attribute(n, "epsilon", static_cast<float>(b.options().epsilon));
    value_ = b.name();
  }

  GraphBuilder g_;
  std::string value_;
  ImageShape shape_;
};

// Keras' "caffe" preprocessing of uint8 (N, H, W, 3) RGB "pixels" into float (N, 3, H, W) BGR
// minus mean_bgr; returns the value's name.
std::string raw_input_preprocessing(GraphBuilder& g, const std::array<float, 3>& mean_bgr) {
  g.initializer("preprocess/bgr_order", onnx::TensorProto::INT64, {3}, {}, {2, 1, 0});
  g.initializer("preprocess/mean_bgr", onnx::TensorProto::FLOAT, {1, 3, 1, 1},
                {mean_bgr[0], mean_bgr[1], mean_bgr[2]}, {});
  onnx::NodeProto& cast = g.node("Cast", "preprocess/cast", {"pixels"}, "preprocess/float");
  int_attribute(cast, "to", onnx::TensorProto::FLOAT);
  onnx::NodeProto& t =
      g.node("Transpose", "preprocess/nchw", {"preprocess/float"}, "preprocess/nchw");
  ints_attribute(t, "perm", {0, 3, 1, 2});
  onnx::NodeProto& bgr = g.node("Gather", "preprocess/bgr",
                                {"preprocess/nchw", "preprocess/bgr_order"}, "preprocess/bgr");
  int_attribute(bgr, "axis", 1);
  g.node("Sub", "preprocess/subtract_mean", {"preprocess/bgr", "preprocess/mean_bgr"},
         "preprocess/input");
  return "preprocess/input";
}

}  // namespace

bool onnx_export_supported() { return true; }

std::string onnx_model_bytes(const Module& model, const OnnxExportOptions& o) {
  KILN_CHECK(o.height > 0 && o.width > 0 && o.channels > 0, "ONNX export: input (", o.channels, ",",
             o.height, ",", o.width, ") is empty");
  KILN_CHECK(!o.raw_input || o.channels == 3, "ONNX export: --raw-input takes RGB images, the ",
             "model takes ", o.channels, " channels");
  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("kiln");
  proto.set_producer_version("1");
  proto.set_domain("org.kiln");
  proto.set_model_version(1);
  onnx::OperatorSetIdProto& opset = *proto.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOnnxOpset);

  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name(o.graph_name);
  GraphBuilder g(graph);
  std::string input = "input";
  if (o.raw_input) {
    value_info(*graph.add_input(), "pixels", onnx::TensorProto::UINT8, {o.height, o.width, 3});
    input = raw_input_preprocessing(g, o.mean_bgr);
  } else {
    value_info(*graph.add_input(), "input", onnx::TensorProto::FLOAT,
               {o.channels, o.height, o.width});
  }
  Exporter e(graph, input, ImageShape{true, o.channels, o.height, o.width, 0});
  e.layer(model);
  KILN_CHECK(!e.shape().map, "ONNX export: the model ends in ", shape_text(e.shape()),
             " maps, not class scores (a Flatten and a Dense at the end?)");
  onnx::NodeProto& softmax = g.node("Softmax", "softmax", {e.value()}, "probabilities");
  int_attribute(softmax, "axis", 1);
  value_info(*graph.add_output(), "probabilities", onnx::TensorProto::FLOAT, {e.shape().features});

  if (!o.class_names.empty()) {
    KILN_CHECK(static_cast<std::int64_t>(o.class_names.size()) == e.shape().features,
               "ONNX export: ", o.class_names.size(), " class names for ", e.shape().features,
               " outputs");
    onnx::StringStringEntryProto& p = *proto.add_metadata_props();
    p.set_key("class_names");
    // A class name that is not UTF-8 (a Latin-1 folder name) gets U+FFFD rather than a throw.
    p.set_value(nlohmann::json(o.class_names)
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  for (const auto& [key, value] : o.metadata) {
    KILN_CHECK(!key.empty() && key != "class_names", "ONNX export: metadata key '", key,
               "' is empty or reserved");
    onnx::StringStringEntryProto& p = *proto.add_metadata_props();
    p.set_key(key);
    p.set_value(value);
  }

  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& err) {
    KILN_FAIL("ONNX export: the ONNX checker refused the graph: ", err.what());
  }
  std::string bytes;
  KILN_CHECK(proto.SerializeToString(&bytes), "ONNX export: the model (", proto.ByteSizeLong(),
             " bytes) could not be serialised");
  return bytes;
}

#endif  // KILN_WITH_ONNX

void export_onnx(const std::string& path, const Module& model, const OnnxExportOptions& options) {
  const std::string bytes = onnx_model_bytes(model, options);
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace kiln
