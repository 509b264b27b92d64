#include "apps/cifar10/keras_config.h"

#include <cmath>

#include "base/error.h"

namespace kiln::app {

namespace {

using J = KerasJson;

// VGG16's blocks: (filters, convolutions), each followed by a 2x2 max pool.
constexpr std::int64_t kBlocks[5][2] = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};

bool is_model_class(const std::string& c) {
  return c == "Sequential" || c == "Functional" || c == "Model";
}

const J* member(const J& j, const char* key) {
  return j.is_object() && j.contains(key) ? &j[key] : nullptr;
}

std::string string_member(const J& j, const char* key) {
  const J* v = member(j, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

// One layer of the model with nested models' layers spliced in.
struct Layer {
  std::string class_name, name;
  const J* config;  // its "config" object
};

// Flattens the model into layers, checking that every Functional model is a chain.
struct Walk {
  std::string source;
  std::vector<Layer> layers;

  [[noreturn]] void fail_at(const std::string& name, const std::string& cls,
                            const std::string& why) const {
    KILN_FAIL(source, ": layer '", name, "' (", cls, ") ", why);
  }

  void model(const J& m, const std::string& name) {
    const std::string cls = string_member(m, "class_name");
    const J* cfg = member(m, "config");
    const J* list = cfg != nullptr ? member(*cfg, "layers") : nullptr;
    KILN_CHECK(list != nullptr && list->is_array(), source, ": ",
               name.empty() ? "the model" : "model '" + name + "'",
               " has no config.layers list (class_name '", cls, "')");
    const bool functional = cls != "Sequential";
    std::string previous;
    for (const J& l : *list) {
      const std::string lcls = string_member(l, "class_name");
      const J* lcfg = member(l, "config");
      std::string lname = lcfg != nullptr ? string_member(*lcfg, "name") : "";
      if (lname.empty()) lname = string_member(l, "name");
      KILN_CHECK(!lcls.empty() && lcfg != nullptr && lcfg->is_object(), source, ": layer '", lname,
                 "' has no class_name or config");
      if (functional) {
        const std::string input = called_on(l);
        if (lcls == "InputLayer" ? !previous.empty() : input != previous) {
          fail_at(lname, lcls,
                  previous.empty() ? "is a second input; Kiln reads one chain of layers"
                                   : "is called on '" + input + "', not on the layer before it ('" +
                                         previous + "'); Kiln reads one chain of layers");
        }
      }
      previous = lname;
      if (is_model_class(lcls)) {
        model(l, lname);
      } else {
        layers.push_back({lcls, lname, lcfg});
      }
    }
    if (functional) {
      const J* out = member(*cfg, "output_layers");
      // One output is ["name", 0, 0], or [["name", 0, 0]].
      if (out != nullptr && out->is_array() && out->size() == 1) out = &(*out)[0];
      const std::string last =
          out != nullptr && out->is_array() && !out->empty() && (*out)[0].is_string()
              ? (*out)[0].get<std::string>()
              : "";
      KILN_CHECK(last == previous, source, ": model '",
                 name.empty() ? string_member(*cfg, "name") : name, "' outputs ",
                 out != nullptr ? out->dump() : "nothing", ", not its last layer '", previous, "'");
    }
  }

  // The layer a Functional model's layer is called on: Keras 3's inbound_nodes
  // [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}]}]
  // or Keras 2's [[[name, 0, 0, {}]]]; "" when it is none of those or has several inputs.
  static std::string called_on(const J& layer) {
    const J* nodes = member(layer, "inbound_nodes");
    if (nodes == nullptr || !nodes->is_array() || nodes->size() != 1) return "";
    const J& node = (*nodes)[0];
    if (const J* args = member(node, "args");
        args != nullptr && args->is_array() && args->size() == 1) {
      const J* tcfg = member((*args)[0], "config");
      const J* history = tcfg != nullptr ? member(*tcfg, "keras_history") : nullptr;
      if (history != nullptr && history->is_array() && !history->empty() &&
          (*history)[0].is_string())
        return (*history)[0].get<std::string>();
    }
    if (node.is_array() && node.size() == 1 && node[0].is_array() && !node[0].empty() &&
        node[0][0].is_string())
      return node[0][0].get<std::string>();
    return "";
  }
};

// Checks one layer's settings against what Kiln's classifier computes.
struct Check {
  const std::string& source;
  const Layer& l;

  [[noreturn]] void unsupported(const std::string& why) const {
    KILN_FAIL(source, ": layer '", l.name, "' (", l.class_name, ") is not supported: ", why);
  }
  // `key` must equal `want`; absent (or null) counts as Keras' default `dflt` when given.
  void equals(const char* key, const J& want, const J* dflt = nullptr) const {
    const J* v = member(*l.config, key);
    const J& got = v != nullptr && !v->is_null() ? *v : (dflt != nullptr ? *dflt : J());
    if (got != want) {
      unsupported(std::string(key) + " is " + (v != nullptr ? v->dump() : "absent") +
                  ", Kiln's classifier has " + want.dump());
    }
  }
  // A pair setting such as kernel_size: [v, v] (or a bare v).
  void pair(const char* key, std::int64_t v, bool optional = false) const {
    const J* got = member(*l.config, key);
    if (optional && (got == nullptr || got->is_null())) return;
    if (got != nullptr && got->is_number_integer() && got->get<std::int64_t>() == v) return;
    equals(key, J::array({v, v}));
  }
  void float32() const {
    const J* d = member(*l.config, "dtype");
    if (d == nullptr || d->is_null()) return;
    const J* cfg = member(*d, "config");
    const std::string name = d->is_string()   ? d->get<std::string>()
                             : cfg != nullptr ? string_member(*cfg, "name")
                                              : "";
    if (name != "float32") unsupported("computes in " + d->dump() + ", Kiln in float32");
  }
  std::int64_t positive(const char* key) const {
    const J* v = member(*l.config, key);
    if (v == nullptr || !v->is_number_integer() || v->get<std::int64_t>() < 1) {
      unsupported(std::string(key) + " is " + (v != nullptr ? v->dump() : "absent") +
                  ", expected a positive integer");
    }
    return v->get<std::int64_t>();
  }
};

// S from an InputLayer's batch_shape (Keras 3) or batch_input_shape (Keras 2), (None, S, S, 3);
// 0 for (None, None, None, 3), a base that takes any size (VGG16() without input_shape).
std::int64_t input_size(const std::string& source, const Layer& l) {
  const Check check{source, l};
  const J* shape = member(*l.config, "batch_shape");
  if (shape == nullptr) shape = member(*l.config, "batch_input_shape");
  const bool any = shape != nullptr && shape->is_array() && shape->size() == 4 &&
                   (*shape)[1].is_null() && (*shape)[2].is_null() && (*shape)[3] == 3;
  if (any) return 0;
  const bool ok = shape != nullptr && shape->is_array() && shape->size() == 4 &&
                  (*shape)[1].is_number_integer() && (*shape)[1] == (*shape)[2] &&
                  (*shape)[3] == 3 && (*shape)[1].get<std::int64_t>() >= 32;
  if (!ok) {
    check.unsupported("its shape is " + (shape != nullptr ? shape->dump() : "absent") +
                      ", Kiln's classifier takes (None, S, S, 3) with S >= 32");
  }
  return (*shape)[1].get<std::int64_t>();
}

}  // namespace

ModelConfig model_config_from_keras(const KerasJson& config, const std::string& source) {
  const std::string top = string_member(config, "class_name");
  KILN_CHECK(is_model_class(top), source, ": the model is '", top,
             "', not a Sequential or Functional model");
  Walk walk{source, {}};
  walk.model(config, "");
  const std::vector<Layer>& L = walk.layers;
  std::size_t i = 0;
  const auto next = [&](const char* cls, const std::string& what) -> Check {
    KILN_CHECK(i < L.size(), source, ": the model ends after ",
               L.empty() ? "no layers" : "layer '" + L.back().name + "'", ", where Kiln's ",
               "classifier has ", what);
    const Check c{source, L[i++]};
    if (c.l.class_name != cls) c.unsupported("Kiln's classifier has " + what + " there");
    c.float32();
    return c;
  };

  ModelConfig out;
  out.image_size = 0;
  for (; i < L.size() && L[i].class_name == "InputLayer"; ++i) {
    const std::int64_t s = input_size(source, L[i]);
    if (s == 0) continue;
    if (out.image_size != 0 && s != out.image_size) {
      Check{source, L[i]}.unsupported("its size " + std::to_string(s) + " differs from the " +
                                      "first input's " + std::to_string(out.image_size));
    }
    out.image_size = s;
  }
  if (out.image_size == 0) {
    // A Sequential without an InputLayer still records the shape it was built for.
    const J* cfg = member(config, "config");
    const J* shape = cfg != nullptr ? member(*cfg, "build_input_shape") : nullptr;
    KILN_CHECK(shape != nullptr && shape->is_array() && shape->size() == 4 &&
                   (*shape)[1].is_number_integer() && (*shape)[1] == (*shape)[2] &&
                   (*shape)[3] == 3 && (*shape)[1].get<std::int64_t>() >= 32,
               source, ": no InputLayer or build_input_shape (None, S, S, 3) with S >= 32, so ",
               "the input size is unknown");
    out.image_size = (*shape)[1].get<std::int64_t>();
  }

  const J same = "same", valid = "valid", last = "channels_last", yes = true, relu = "relu",
          one = 1, none = nullptr;
  for (int b = 0; b < 5; ++b) {
    for (int c = 0; c < kBlocks[b][1]; ++c) {
      const std::string what = "VGG16's block" + std::to_string(b + 1) + "_conv" +
                               std::to_string(c + 1) + " (Conv2D, " +
                               std::to_string(kBlocks[b][0]) + " filters)";
      const Check conv = next("Conv2D", what);
      conv.equals("filters", kBlocks[b][0]);
      conv.pair("kernel_size", 3);
      conv.pair("strides", 1, true);
      conv.pair("dilation_rate", 1, true);
      conv.equals("padding", same, &valid);
      conv.equals("data_format", last, &last);
      conv.equals("groups", 1, &one);
      conv.equals("activation", relu);
      conv.equals("use_bias", yes, &yes);
    }
    const Check pool =
        next("MaxPooling2D", "VGG16's block" + std::to_string(b + 1) + "_pool (MaxPooling2D, 2x2)");
    pool.pair("pool_size", 2);
    pool.pair("strides", 2, true);
    pool.equals("padding", valid, &valid);
    pool.equals("data_format", last, &last);
  }
  next("Flatten", "Flatten").equals("data_format", last, &last);
  const Check dense = next("Dense", "Dense(hidden units, relu)");
  out.hidden = dense.positive("units");
  dense.equals("activation", relu);
  dense.equals("use_bias", yes, &yes);
  dense.equals("quantization_config", none, &none);
  const Check dropout = next("Dropout", "Dropout(rate)");
  const J* rate = member(*dropout.l.config, "rate");
  if (rate == nullptr || !rate->is_number() || rate->get<double>() < 0 ||
      rate->get<double>() >= 1) {
    dropout.unsupported("rate is " + (rate != nullptr ? rate->dump() : "absent") +
                        ", expected a number in [0, 1)");
  }
  out.dropout = rate->get<double>();
  const Check dense_1 = next("Dense", "Dense(classes, softmax)");
  out.classes = dense_1.positive("units");
  dense_1.equals("activation", "softmax");
  dense_1.equals("use_bias", yes, &yes);
  dense_1.equals("quantization_config", none, &none);
  if (i < L.size()) {
    Check{source, L[i]}.unsupported("Kiln's classifier ends at the softmax Dense before it");
  }
  return out;
}

namespace {

// The pieces serialization_lib.serialize_keras_object writes for each layer (Keras 3.15.1).
J dtype_policy() {
  return {{"module", "keras"},
          {"class_name", "DTypePolicy"},
          {"config", {{"name", "float32"}}},
          {"registered_name", nullptr}};
}

J initializer(const char* cls) {
  J config = J::object();
  if (std::string(cls) == "GlorotUniform") {
    config = {{"seed", nullptr}, {"input_axes", nullptr}, {"output_axes", nullptr}};
  }
  return {{"module", "keras.initializers"},
          {"class_name", cls},
          {"config", config},
          {"registered_name", nullptr}};
}

J shape(std::initializer_list<std::int64_t> dims) {
  J out = J::array({nullptr});
  for (std::int64_t d : dims) out.push_back(d);
  return out;
}

J layer(const char* cls, J config, J input_shape = nullptr) {
  J out = {{"module", "keras.layers"},
           {"class_name", cls},
           {"config", std::move(config)},
           {"registered_name", nullptr}};
  if (!input_shape.is_null()) out["build_config"] = {{"input_shape", std::move(input_shape)}};
  return out;
}

J input_layer(std::int64_t size, const std::string& name) {
  return layer("InputLayer", {{"batch_shape", shape({size, size, 3})},
                              {"dtype", "float32"},
                              {"sparse", false},
                              {"ragged", false},
                              {"name", name},
                              {"optional", false}});
}

J common(const std::string& name) {
  return {{"name", name}, {"trainable", true}, {"dtype", dtype_policy()}};
}

J conv2d(const std::string& name, std::int64_t filters, std::int64_t side, std::int64_t in) {
  J c = common(name);
  c.update(J{{"filters", filters},
             {"kernel_size", {3, 3}},
             {"strides", {1, 1}},
             {"padding", "same"},
             {"data_format", "channels_last"},
             {"dilation_rate", {1, 1}},
             {"groups", 1},
             {"activation", "relu"},
             {"use_bias", true},
             {"kernel_initializer", initializer("GlorotUniform")},
             {"bias_initializer", initializer("Zeros")},
             {"kernel_regularizer", nullptr},
             {"bias_regularizer", nullptr},
             {"activity_regularizer", nullptr},
             {"kernel_constraint", nullptr},
             {"bias_constraint", nullptr}});
  return layer("Conv2D", std::move(c), shape({side, side, in}));
}

J max_pool(const std::string& name) {
  J c = common(name);
  c.update(J{{"pool_size", {2, 2}},
             {"padding", "valid"},
             {"strides", {2, 2}},
             {"data_format", "channels_last"}});
  return layer("MaxPooling2D", std::move(c));
}

J dense(const std::string& name, std::int64_t units, const char* activation, std::int64_t in) {
  J c = common(name);
  c.update(J{{"units", units},
             {"activation", activation},
             {"use_bias", true},
             {"kernel_initializer", initializer("GlorotUniform")},
             {"bias_initializer", initializer("Zeros")},
             {"kernel_regularizer", nullptr},
             {"bias_regularizer", nullptr},
             {"kernel_constraint", nullptr},
             {"bias_constraint", nullptr},
             {"quantization_config", nullptr}});
  return layer("Dense", std::move(c), shape({in}));
}

// A Functional model's layer also names itself and the tensor it is called on.
void call_on(J& l, const std::string& name, const std::string& input, J input_shape) {
  l["name"] = name;
  l["inbound_nodes"] = J::array();
  if (input.empty()) return;
  l["inbound_nodes"].push_back({{"args", J::array({{{"class_name", "__keras_tensor__"},
                                                    {"config",
                                                     {{"shape", std::move(input_shape)},
                                                      {"dtype", "float32"},
                                                      {"keras_history", {input, 0, 0}}}}}})},
                                {"kwargs", J::object()}});
}

}  // namespace

KerasJson keras_config_of(const ModelConfig& config) {
  const std::int64_t s = config.image_size;
  J base_layers = J::array();
  base_layers.push_back(input_layer(s, "input_layer"));
  call_on(base_layers.back(), "input_layer", "", nullptr);
  std::string previous = "input_layer";
  std::int64_t side = s, channels = 3;
  for (int b = 0; b < 5; ++b) {
    const std::string block = "block" + std::to_string(b + 1);
    for (int c = 0; c < kBlocks[b][1]; ++c) {
      const std::string name = block + "_conv" + std::to_string(c + 1);
      base_layers.push_back(conv2d(name, kBlocks[b][0], side, channels));
      call_on(base_layers.back(), name, previous, shape({side, side, channels}));
      previous = name;
      channels = kBlocks[b][0];
    }
    base_layers.push_back(max_pool(block + "_pool"));
    call_on(base_layers.back(), block + "_pool", previous, shape({side, side, channels}));
    previous = block + "_pool";
    side /= 2;
  }
  const J base = {{"module", "keras.src.models.functional"},
                  {"class_name", "Functional"},
                  {"config",
                   {{"name", "vgg16"},
                    {"trainable", true},
                    {"layers", std::move(base_layers)},
                    {"input_layers", {"input_layer", 0, 0}},
                    {"output_layers", {previous, 0, 0}}}},
                  {"registered_name", "Functional"},
                  {"build_config", {{"input_shape", nullptr}}},
                  {"compile_config", J::object()}};

  const std::int64_t features = 512 * side * side;
  J flatten_config = common("flatten");
  flatten_config["data_format"] = "channels_last";
  J dropout_config = common("dropout");
  dropout_config.update(J{{"rate", config.dropout}, {"seed", nullptr}, {"noise_shape", nullptr}});
  J layers =
      J::array({input_layer(s, "input_layer_1"), base,
                layer("Flatten", flatten_config, shape({side, side, 512})),
                dense("dense", config.hidden, "relu", features), layer("Dropout", dropout_config),
                dense("dense_1", config.classes, "softmax", config.hidden)});
  J top_config = common("sequential");
  top_config["layers"] = std::move(layers);
  top_config["build_input_shape"] = shape({s, s, 3});
  return {{"module", "keras"},
          {"class_name", "Sequential"},
          {"config", std::move(top_config)},
          {"registered_name", nullptr},
          {"build_config", {{"input_shape", shape({s, s, 3})}}},
          {"compile_config", J::object()}};
}

}  // namespace kiln::app
