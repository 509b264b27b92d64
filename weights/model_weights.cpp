#include "weights/model_weights.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "base/error.h"
#include "weights/keras3_weights.h"

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

// Own state of a module with children, which weight files cannot name as a layer.
std::size_t own_state_count(const Module& m) {
  std::size_t below = 0;
  for (const auto& child : m.children()) below += child->named_state().size();
  return m.named_state().size() - below;
}

void collect_leaves(const Module& m, std::vector<const Module*>& out) {
  if (m.children().empty()) {
    out.push_back(&m);
    return;
  }
  KILN_CHECK(own_state_count(m) == 0, "weights: module '", m.name(),
             "' has state of its own besides its children; weight files hold only layers");
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
    for (StateTensor& entry : layer->named_state()) {  // parameters, then buffers
      Layout layout;
      if (entry.layout == KerasLayout::ConvKernel) layout.kind = Layout::ConvKernel;
      if (entry.layout == KerasLayout::DenseKernel && pending) {
        const MapShape& m = *pending;
        const std::int64_t rows = entry.tensor.shape()[0];
        KILN_CHECK(rows == m.features(), "weights: layer '", layer->name(), "' has ", rows,
                   " inputs but follows '", pending_name, "', which flattens a ", m.c, "x", m.h,
                   "x", m.w, " map (", m.features(), " values)");
        layout = {Layout::DenseRowsFromNhwc, m.c, m.h, m.w};
      }
      bound.params.push_back({std::move(entry.name), entry.tensor, layout});
    }
    if (const std::optional<MapShape> map = layer->flattens_map()) {
      pending = map;
      if (map->h * map->w == 1) pending.reset();
      pending_name = layer->name();
    } else if (!layer->keeps_feature_order()) {
      pending.reset();  // a layer that makes new features consumes the Flatten's order
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

// A Keras 3 .weights.h5 keys its layers by class and order, not by name. Gives the file's layers
// the model's names so that the name-based load below applies to it:
//   - by the names the file carries (Keras >= 3.6), when they are unique and every model layer
//     with parameters finds its own (or a missing one is allowed: a base load);
//   - otherwise as Keras' own loader matches, by class and order: the model's k-th Conv2d takes
//     the file's k-th conv2d (conv2d, conv2d_1, ... in suffix order), the same for Dense. A class
//     whose counts differ is an error, unless missing and unused layers are both allowed (then
//     the model's layers of that class stay missing and the file's unused).
// Layers left unmatched keep their paths ("layers/dense_2"), which no Kiln layer is called.
KerasWeights match_keras3_layers(const KerasWeights& file, const std::vector<BoundLayer>& model,
                                 const LoadOptions& options, const std::string& source) {
  std::set<std::string> names;
  bool unique = true;
  for (const KerasLayer& l : file.layers) unique = names.insert(l.name).second && unique;
  std::vector<std::string> not_by_name;
  for (const BoundLayer& m : model) {
    if (!m.params.empty() && names.count(m.module->name()) == 0)
      not_by_name.push_back(m.module->name());
  }
  if (file.names_from_file && unique && (not_by_name.empty() || options.allow_missing)) return file;

  KerasWeights out = file;
  std::map<std::string, std::vector<std::size_t>> file_by_class;
  std::map<std::string, std::set<std::string>> containers;
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    KerasLayer& l = out.layers[i];
    const std::string& key = out.keys.at(i);
    l.name = keras3_path(key);
    if (l.weights.empty()) continue;
    file_by_class[keras3_class(key)].push_back(i);
    containers[keras3_class(key)].insert(keras3_container(key));
  }
  std::map<std::string, std::vector<std::string>> model_by_class;
  for (const BoundLayer& m : model) {
    if (m.params.empty()) continue;
    const std::string cls = m.module->keras_class();
    KILN_CHECK(!cls.empty(), source, ": layer '", m.module->name(),
               "' has no Keras 3 class key, so it cannot be found in a .weights.h5 file");
    model_by_class[cls].push_back(m.module->name());
  }
  for (const auto& [cls, model_names] : model_by_class) {
    const std::vector<std::size_t>& in_file = file_by_class[cls];
    if (in_file.size() == model_names.size()) {
      const std::set<std::string>& where = containers[cls];
      KILN_CHECK(where.size() <= 1, source, ": the file's ", cls, " layers are in ", where.size(),
                 " different models (", quoted_list({where.begin(), where.end()}),
                 ") and cannot be matched by name, so their order is unknown");
      for (std::size_t k = 0; k < in_file.size(); ++k) out.layers[in_file[k]].name = model_names[k];
      continue;
    }
    if (options.allow_missing && options.allow_unused) continue;
    std::string paths;
    for (std::size_t k = 0; k < in_file.size() && k < 3; ++k)
      paths += (k ? ", " : "") + keras3_path(out.keys.at(in_file[k]));
    if (in_file.size() > 3) paths += ", ...";
    KILN_FAIL(source, ": the model has ", model_names.size(), " ", cls, " layers with weights (",
              quoted_list(model_names), "), the file ", in_file.size(),
              in_file.empty() ? "" : " (" + paths + ")",
              file.names_from_file && !not_by_name.empty()
                  ? "; not in the file by name: " + quoted_list(not_by_name)
                  : std::string("; a Keras 3 .weights.h5 without the model's layer names is "
                                "matched as Keras matches it, by class and order"));
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

KerasWeights model_to_keras_weights(const Module& model, const std::vector<std::string>& nested) {
  KerasWeights flat = model_to_keras_weights(model);
  if (model.children().empty()) return flat;
  std::map<std::string, const KerasLayer*> by_name;
  for (const KerasLayer& l : flat.layers) by_name[l.name] = &l;
  KerasWeights out;
  std::set<std::string> found;
  for (const auto& child : model.children()) {
    std::vector<const Module*> leaves;
    collect_leaves(*child, leaves);
    const bool nest = std::find(nested.begin(), nested.end(), child->name()) != nested.end();
    if (nest) {
      KILN_CHECK(by_name.count(child->name()) == 0, "weights: '", child->name(),
                 "' names both a model to nest and a layer");
      found.insert(child->name());
      out.layers.push_back({child->name(), {}});
    }
    if (!nest) {
      for (const Module* leaf : leaves) out.layers.push_back(*by_name.at(leaf->name()));
      continue;
    }
    // Keras lists a nested model's weights trainable first, then the rest (buffers such as
    // BatchNorm's moving statistics, frozen parameters), each part in layer order.
    for (const bool trainable_part : {true, false}) {
      for (const Module* leaf : leaves) {
        const KerasLayer& layer = *by_name.at(leaf->name());
        const std::vector<StateTensor> state = leaf->named_state();  // the weights' order
        for (std::size_t i = 0; i < state.size(); ++i) {
          const bool trainable = !state[i].is_buffer && state[i].tensor.requires_grad();
          if (trainable == trainable_part) out.layers.back().weights.push_back(layer.weights[i]);
        }
      }
    }
  }
  for (const std::string& n : nested) {
    KILN_CHECK(found.count(n) != 0, "weights: the model has no part '", n, "' to nest");
  }
  return out;
}

std::vector<Keras3Entry> model_to_keras3_layers(const Module& model,
                                                const std::vector<std::string>& nested) {
  const KerasWeights flat = model_to_keras_weights(model);
  std::map<std::string, const KerasLayer*> by_name;
  for (const KerasLayer& l : flat.layers) by_name[l.name] = &l;
  std::map<std::string, int> used;  // "container|class" -> count: saving_lib's _get_unique_name
  const auto key = [&used](const std::string& container, const std::string& cls) {
    const int n = used[container + "|" + cls]++;
    const std::string k = n == 0 ? cls : cls + "_" + std::to_string(n);
    return container.empty() ? k : container + "/" + k;
  };
  std::vector<Keras3Entry> out;
  if (nested.empty()) out.push_back({key("", "input_layer"), "input_layer", {}});
  std::set<std::string> found;
  for (const auto& child : model.children()) {
    const bool nest = std::find(nested.begin(), nested.end(), child->name()) != nested.end();
    const std::string container = nest ? key("", "functional") : "";
    if (nest) {
      found.insert(child->name());
      out.push_back({key(container, "input_layer"), "input_layer", {}});
    }
    std::vector<const Module*> leaves;
    collect_leaves(*child, leaves);
    for (const Module* leaf : leaves) {
      const std::string cls = leaf->keras_class();
      KILN_CHECK(!cls.empty(), "weights: layer '", leaf->name(),
                 "' has no Keras 3 class to key it by in a .weights.h5 file");
      out.push_back({key(container, cls), leaf->name(), by_name.at(leaf->name())->weights});
    }
  }
  for (const std::string& n : nested) {
    KILN_CHECK(found.count(n) != 0, "weights: the model has no part '", n, "' to nest");
  }
  return out;
}

LoadReport assign_keras_weights(const KerasWeights& weights, Module& model,
                                const LoadOptions& options, const std::string& source) {
  const std::vector<BoundLayer> bound = bind(model);
  const KerasWeights matched = weights.keyed_by_class
                                   ? match_keras3_layers(weights, bound, options, source)
                                   : KerasWeights{};
  const KerasWeights& resolved = weights.keyed_by_class ? matched : weights;
  const std::map<std::string, Offer> file = offers(resolved);
  std::set<std::string> taken;  // labels of the offers used
  LoadReport report;
  std::vector<std::pair<Tensor, Tensor>> staged;  // (parameter, its new value): written last

  for (const BoundLayer& layer : bound) {
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
    for (const KerasLayer& l : resolved.layers) {
      if (!l.weights.empty()) available.push_back(l.name);
    }
    KILN_FAIL(source, ": no weights for the model's layer(s) ", quoted_list(report.missing),
              " (the file's layers with weights: ", quoted_list(available), ")");
  }
  report.unused = unused_layers(resolved, file, taken);
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
