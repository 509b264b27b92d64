#include "weights/model_weights.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/relu.h"

namespace kiln {

namespace {

// How one parameter's Kiln layout relates to its Keras layout.
struct Layout {
  enum Kind { AsStored, ConvKernel, DenseRowsFromNhwc } kind = AsStored;
  std::int64_t c = 0, h = 0, w = 0;  // DenseRowsFromNhwc: the flattened (C, H, W) map
};

struct BoundParam {
  std::string name;  // "<layer>/kernel"
  Tensor tensor;
  Layout layout;
};

struct BoundLayer {
  const Module* module;
  std::vector<BoundParam> params;
};

// Own parameters of a module with children, which weight files cannot name as a layer.
std::size_t own_parameter_count(const Module& m) {
  std::size_t below = 0;
  for (const auto& child : m.children()) below += child->named_parameters().size();
  return m.named_parameters().size() - below;
}

void collect_leaves(const Module& m, std::vector<const Module*>& out) {
  if (m.children().empty()) {
    out.push_back(&m);
    return;
  }
  KILN_CHECK(own_parameter_count(m) == 0, "weights: module '", m.name(),
             "' has parameters of its own besides its children; weight files hold only layers");
  for (const auto& child : m.children()) collect_leaves(*child, out);
}

// The model's layers in order, each parameter with its layout.
std::vector<BoundLayer> bind(const Module& model) {
  std::vector<const Module*> leaves;
  collect_leaves(model, leaves);
  std::vector<BoundLayer> out;
  std::set<std::string> names;
  std::optional<MapShape> pending;  // a Flatten of a map larger than 1x1, not yet consumed
  std::string pending_name;
  for (const Module* layer : leaves) {
    KILN_CHECK(names.insert(layer->name()).second, "weights: two layers are named '", layer->name(),
               "' (weight files find layers by name)");
    BoundLayer bound{layer, {}};
    const auto* conv = dynamic_cast<const Conv2d*>(layer);
    const auto* dense = dynamic_cast<const Dense*>(layer);
    for (auto& [name, tensor] : layer->named_parameters()) {
      Layout layout;
      if (conv != nullptr && tensor.same(conv->kernel())) layout.kind = Layout::ConvKernel;
      if (dense != nullptr && tensor.same(dense->kernel()) && pending) {
        const MapShape& m = *pending;
        KILN_CHECK(dense->in_features() == m.c * m.h * m.w, "weights: layer '", layer->name(),
                   "' has ", dense->in_features(), " inputs but follows '", pending_name,
                   "', which flattens a ", m.c, "x", m.h, "x", m.w, " map (", m.c * m.h * m.w,
                   " values)");
        layout = {Layout::DenseRowsFromNhwc, m.c, m.h, m.w};
      }
      bound.params.push_back({name, tensor, layout});
    }
    if (const auto* flatten = dynamic_cast<const Flatten*>(layer)) {
      pending = flatten->input_map();
      if (pending && pending->h * pending->w == 1) pending.reset();
      pending_name = layer->name();
    } else if (dynamic_cast<const Dropout*>(layer) == nullptr &&
               dynamic_cast<const ReLU*>(layer) == nullptr) {
      pending.reset();  // elementwise layers keep the order; anything else consumes it
    }
    out.push_back(std::move(bound));
  }
  return out;
}

std::vector<std::int64_t> keras_shape(const Tensor& t, const Layout& layout) {
  const std::vector<std::int64_t>& d = t.shape().dims();
  if (layout.kind == Layout::ConvKernel) return {d[2], d[3], d[1], d[0]};  // OIHW -> HWIO
  return d;
}

// Moves values between Keras' order (row-major in keras_shape) and Kiln's (row-major in the
// tensor's shape). Each element's two indices are computed once, so the two directions cannot
// disagree about the mapping.
std::vector<float> convert(const std::vector<float>& v, const Tensor& t, const Layout& layout,
                           bool to_kiln) {
  const std::vector<std::int64_t>& d = t.shape().dims();
  std::vector<float> out(v.size());
  auto move = [&](std::int64_t kiln, std::int64_t keras) {
    if (to_kiln) {
      out[kiln] = v[keras];
    } else {
      out[keras] = v[kiln];
    }
  };
  if (layout.kind == Layout::ConvKernel) {  // OIHW <-> HWIO
    const std::int64_t K = d[0], C = d[1], R = d[2], S = d[3];
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t r = 0; r < R; ++r)
          for (std::int64_t s = 0; s < S; ++s)
            move(((k * C + c) * R + r) * S + s, ((r * S + s) * C + c) * K + k);
  } else if (layout.kind == Layout::DenseRowsFromNhwc) {  // row c*H*W + hw <-> row hw*C + c
    const std::int64_t cols = d[1], hw_count = layout.h * layout.w;
    for (std::int64_t c = 0; c < layout.c; ++c)
      for (std::int64_t hw = 0; hw < hw_count; ++hw)
        for (std::int64_t j = 0; j < cols; ++j)
          move((c * hw_count + hw) * cols + j, (hw * layout.c + c) * cols + j);
  } else {
    out = v;
  }
  return out;
}

std::vector<float> from_keras(const std::vector<float>& v, const Tensor& t, const Layout& layout) {
  return convert(v, t, layout, /*to_kiln=*/true);
}

std::vector<float> to_keras(const std::vector<float>& v, const Tensor& t, const Layout& layout) {
  return convert(v, t, layout, /*to_kiln=*/false);
}

std::string shape_str(const std::vector<std::int64_t>& dims) { return Shape(dims).str(); }

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out.empty() ? "none" : out;
}

// What the file offers a model layer: a layer of its own, or the weights of a layer nested in
// another layer's group (a Keras model inside a Keras model, e.g. Sequential([VGG16(...), ...])
// keeps "vgg16" as one layer whose weight_names are "block1_conv1/kernel:0", ...).
struct Offer {
  std::string label;  // "fc1", or "vgg16/block1_conv1" for a nested layer
  std::vector<const KerasWeight*> weights;
};

// The owning layer of a nested weight name: "block1_conv1/kernel:0" -> "block1_conv1"; "" when
// the name has no owner or names the layer itself.
std::string nested_owner(const std::string& weight, const std::string& layer) {
  const std::size_t slash = weight.rfind('/');
  if (slash == std::string::npos) return "";
  std::string owner = weight.substr(0, slash);
  const std::size_t outer = owner.rfind('/');
  if (outer != std::string::npos) owner = owner.substr(outer + 1);
  return owner == layer ? "" : owner;
}

// The layers nested in a file layer's group, in order of appearance: empty unless every weight
// names an owner other than the layer and there are at least two owners (one stray name is more
// likely a renamed layer than a model inside a model).
std::vector<std::pair<std::string, Offer>> nested_offers(const KerasLayer& layer) {
  std::vector<std::pair<std::string, Offer>> out;
  for (const KerasWeight& w : layer.weights) {
    const std::string owner = nested_owner(w.name, layer.name);
    if (owner.empty()) return {};
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& o) { return o.first == owner; });
    if (it == out.end()) it = out.insert(out.end(), {owner, {layer.name + "/" + owner, {}}});
    it->second.weights.push_back(&w);
  }
  if (out.size() < 2) return {};
  return out;
}

std::map<std::string, Offer> offers(const KerasWeights& file) {
  std::map<std::string, Offer> out;
  for (const KerasLayer& layer : file.layers) {
    Offer& own = out[layer.name];
    own.label = layer.name;
    for (const KerasWeight& w : layer.weights) own.weights.push_back(&w);
  }
  for (const KerasLayer& layer : file.layers) {
    for (auto& [owner, offer] : nested_offers(layer))
      out.emplace(owner, std::move(offer));  // own names win
  }
  return out;
}

// File layers (or layers nested in them) with weights that the load did not use.
std::vector<std::string> unused_layers(const KerasWeights& file,
                                       const std::map<std::string, Offer>& offered,
                                       const std::set<std::string>& taken) {
  std::vector<std::string> out;
  for (const KerasLayer& layer : file.layers) {
    if (layer.weights.empty() || taken.count(layer.name)) continue;
    std::vector<std::string> nested_unused;
    bool nested_taken = false;
    for (const auto& [owner, offer] : nested_offers(layer)) {
      const auto it = offered.find(owner);
      if (it == offered.end() || it->second.label != offer.label) continue;  // shadowed
      if (taken.count(offer.label)) {
        nested_taken = true;
      } else {
        nested_unused.push_back(offer.label);
      }
    }
    if (!nested_taken) {
      out.push_back(layer.name);
    } else {
      out.insert(out.end(), nested_unused.begin(), nested_unused.end());
    }
  }
  return out;
}

}  // namespace

KerasWeights model_to_keras_weights(const Module& model) {
  KerasWeights out;
  for (const BoundLayer& layer : bind(model)) {
    KerasLayer keras{layer.module->name(), {}};
    for (const BoundParam& p : layer.params) {
      std::vector<float> values;
      for (double x : p.tensor.to_double_vector()) values.push_back(static_cast<float>(x));
      keras.weights.push_back(
          {p.name + ":0", keras_shape(p.tensor, p.layout), to_keras(values, p.tensor, p.layout)});
    }
    out.layers.push_back(std::move(keras));
  }
  return out;
}

LoadReport assign_keras_weights(const KerasWeights& weights, Module& model,
                                const LoadOptions& options, const std::string& source) {
  const std::map<std::string, Offer> file = offers(weights);
  std::set<std::string> taken;  // labels of the offers used
  LoadReport report;
  std::vector<std::pair<Tensor, Tensor>> staged;  // (parameter, its new value): written last

  for (const BoundLayer& layer : bind(model)) {
    const std::string& name = layer.module->name();
    const auto found = file.find(name);
    if (found == file.end()) {
      if (!layer.params.empty()) report.missing.push_back(name);
      continue;
    }
    const Offer& offer = found->second;
    taken.insert(offer.label);
    if (layer.params.empty() && offer.weights.empty()) continue;  // a pool, a flatten...
    if (offer.weights.size() != layer.params.size()) {
      std::vector<std::string> file_names, model_names;
      for (const KerasWeight* w : offer.weights) file_names.push_back(w->name);
      for (const BoundParam& p : layer.params) model_names.push_back(p.name);
      KILN_FAIL(source, ": layer '", name, "' has ", offer.weights.size(), " weights in the file (",
                quoted_list(file_names), ") but ", layer.params.size(), " in the model (",
                quoted_list(model_names), ")");
    }
    for (std::size_t i = 0; i < layer.params.size(); ++i) {
      const BoundParam& p = layer.params[i];
      const KerasWeight& w = *offer.weights[i];
      const std::vector<std::int64_t> expected = keras_shape(p.tensor, p.layout);
      KILN_CHECK(w.shape == expected, source, ": layer '", name, "': weight '", w.name,
                 "' has shape ", shape_str(w.shape), " in the file but the model expects ",
                 shape_str(expected), " (Keras layout of '", p.name, "' ", p.tensor.shape(), ")");
      staged.emplace_back(
          p.tensor, Tensor::from_vector(p.tensor.shape(), from_keras(w.data, p.tensor, p.layout)));
    }
    report.loaded.push_back(name);
  }
  if (!report.missing.empty() && !options.allow_missing) {
    std::vector<std::string> available;
    for (const KerasLayer& l : weights.layers) {
      if (!l.weights.empty()) available.push_back(l.name);
    }
    KILN_FAIL(source, ": no weights for the model's layer(s) ", quoted_list(report.missing),
              " (the file's layers with weights: ", quoted_list(available), ")");
  }
  report.unused = unused_layers(weights, file, taken);
  KILN_CHECK(report.unused.empty() || options.allow_unused, source, ": the file has weights for ",
             quoted_list(report.unused), ", which the model has no layer for");
  // Only now, with every weight checked and converted, touch the model.
  for (auto& [param, value] : staged) param.copy_from(value);
  return report;
}

LoadReport load_weights(const std::string& path, Module& model, const LoadOptions& options) {
  return assign_keras_weights(read_keras_weights(path), model, options, path);
}

void save_weights(const std::string& path, const Module& model) {
  write_keras_weights(path, model_to_keras_weights(model));
}

}  // namespace kiln
