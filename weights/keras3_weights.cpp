#include "weights/keras3_weights.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/error.h"

namespace kiln {

namespace {

// "conv2d_12" -> ("conv2d", 12); "conv2d" -> ("conv2d", 0): _get_unique_name's inverse.
std::pair<std::string, std::int64_t> split_component(const std::string& component) {
  const std::size_t us = component.rfind('_');
  if (us == std::string::npos || us + 1 == component.size() || us == 0) return {component, 0};
  for (std::size_t i = us + 1; i < component.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(component[i]))) return {component, 0};
  }
  if (component.size() - us - 1 > 12) return {component, 0};
  return {component.substr(0, us), std::stoll(component.substr(us + 1))};
}

std::string last_component(const std::string& key) {
  const std::size_t slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

// Keras nests models a few levels deep; a deeper file is damaged or loops through a hard link
// back to a group above (HDF5 allows that): refused before the recursion can exhaust the stack.
constexpr int kMaxNesting = 32;

void check_nesting(const H5Group& g, int depth) {
  KILN_CHECK(depth <= kMaxNesting, g.file(), ": ", g.path(), ": groups nested more than ",
             kMaxNesting, " deep (a link back to a group above?); no Keras file nests so deep");
}

bool holds_datasets(const H5Group& g, int depth = 0) {
  check_nesting(g, depth);
  for (const std::string& c : g.children()) {
    if (g.has_dataset(c)) return true;
    if (g.has_group(c) && holds_datasets(g.group(c), depth + 1)) return true;
  }
  return false;
}

// The container group of a model's layers: `layers`, or Keras 2.13's name for it.
std::string container_of(const H5Group& g) {
  if (g.has_group("layers")) return "layers";
  if (g.has_group("_layer_checkpoint_dependencies")) return "_layer_checkpoint_dependencies";
  return "";
}

// Dataset names of a vars group in numeric order; they must be exactly 0 .. n-1.
std::vector<std::string> ordered_vars(const H5Group& vars) {
  std::vector<std::pair<std::int64_t, std::string>> found;
  for (const std::string& c : vars.children()) {
    const bool digits = !c.empty() && c.size() < 10 && std::all_of(c.begin(), c.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) != 0;
    });
    KILN_CHECK(digits && vars.has_dataset(c), vars.file(), ": ", vars.path(), "/", c,
               ": expected only datasets 0, 1, ... in a Keras 3 vars group");
    found.emplace_back(std::stoll(c), c);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    KILN_CHECK(found[i].first == static_cast<std::int64_t>(i), vars.file(), ": ", vars.path(),
               ": variables are numbered 0 .. n-1, but ", i, " is missing");
    out.push_back(found[i].second);
  }
  return out;
}

std::string optional_name(const H5Group& vars) {
  if (!vars.has_attribute("name")) return "";
  try {
    return vars.read_string_attribute("name");
  } catch (const Error&) {
    return "";
  }
}

struct Walk {
  KerasWeights out;
  bool every_leaf_named = true;

  // g: a saveable's group, `key` its path below the root's layers ("" for the root).
  void saveable(const H5Group& g, const std::string& key, int depth = 0) {
    check_nesting(g, depth);
    const std::string container = container_of(g);
    if (!container.empty()) {
      model(g, key, container, depth);
      return;
    }
    KILN_CHECK(!key.empty(), g.file(), ": a Keras 3 .weights.h5 file needs a layers group at ",
               "its root (top-level objects: ", join(g.children()), ")");
    layer(g, key);
  }

  void model(const H5Group& g, const std::string& key, const std::string& container, int depth) {
    KILN_CHECK(!g.has_group("vars") || !holds_datasets(g.group("vars")), g.file(), ": ",
               g.path() == "/" ? "/vars" : g.path() + "/vars",
               ": a model with variables of its own besides its layers, which Kiln does not read");
    const H5Group layers = g.group(container);
    std::vector<std::string> keys = layers.children();
    std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
      return split_component(a) < split_component(b);
    });
    for (const std::string& k : keys) {
      KILN_CHECK(layers.has_group(k), g.file(), ": ", layers.path(), "/", k,
                 ": expected a layer's group");
      saveable(layers.group(k), key.empty() ? k : key + "/" + k, depth + 1);
    }
  }

  void layer(const H5Group& g, const std::string& key) {
    for (const std::string& c : g.children()) {
      if (c == "vars") continue;
      const bool state = g.has_dataset(c) || (g.has_group(c) && holds_datasets(g.group(c)));
      KILN_CHECK(!state, g.file(), ": layer ", keras3_path(key), " keeps state outside its vars ",
                 "group (", g.path(), "/", c, "), which no Kiln layer has");
    }
    KerasLayer l;
    std::string name;
    if (g.has_group("vars")) {
      const H5Group vars = g.group("vars");
      name = optional_name(vars);
      for (const std::string& v : ordered_vars(vars)) {
        const H5DatasetView ds = vars.dataset(v);
        l.weights.push_back(
            {keras3_path(key) + "/vars/" + v, ds.shape(), read_weight_values(ds, g.file())});
      }
    }
    every_leaf_named = every_leaf_named && !name.empty();
    l.name = name.empty() ? keras3_path(key) : name;
    out.layers.push_back(std::move(l));
    out.keys.push_back(key);
  }

  static std::string join(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
    return s.empty() ? "none" : s;
  }
};

}  // namespace

std::string keras3_class(const std::string& key) {
  return split_component(last_component(key)).first;
}

std::string keras3_container(const std::string& key) {
  const std::size_t slash = key.rfind('/');
  return slash == std::string::npos ? "" : key.substr(0, slash);
}

std::string keras3_path(const std::string& key) {
  std::string out = "layers/";
  for (char c : key) out += c == '/' ? std::string("/layers/") : std::string(1, c);
  return out;
}

void write_keras3_weights(H5Group& root, const std::vector<Keras3Entry>& layers,
                          const std::string& root_name,
                          const std::vector<std::pair<std::string, std::string>>& model_names) {
  std::set<std::string> made;  // groups whose vars exist
  const auto vars = [&](const std::string& path, const std::string& name) {
    if (!made.insert(path).second) return;
    H5Group v = root.create_group(path.empty() ? "vars" : path + "/vars");
    v.write_string_attribute("name", name);
  };
  vars("", root_name);
  // Every key first, so that a layer key is refused as a model prefix whatever the order.
  std::set<std::string> keys;
  for (const Keras3Entry& l : layers) {
    KILN_CHECK(keys.insert(l.key).second, root.file(), ": two layers have the key '", l.key, "'");
  }
  for (const Keras3Entry& l : layers) {
    for (std::size_t slash = l.key.find('/'); slash != std::string::npos;
         slash = l.key.find('/', slash + 1)) {
      const std::string model = l.key.substr(0, slash);
      KILN_CHECK(keys.count(model) == 0, root.file(), ": '", model,
                 "' is both a layer and a model");
      std::string name = model;
      for (const auto& [key, n] : model_names) {
        if (key == model) name = n;
      }
      vars(keras3_path(model), name);
    }
    const std::string path = keras3_path(l.key);
    vars(path, l.name);
    H5Group v = root.group(path + "/vars");
    for (std::size_t i = 0; i < l.weights.size(); ++i) {
      const KerasWeight& w = l.weights[i];
      std::int64_t n = 1;
      for (std::int64_t d : w.shape) n *= d;
      KILN_CHECK(static_cast<std::int64_t>(w.data.size()) == n, root.file(), ": layer '", l.name,
                 "': weight ", i, " has ", w.data.size(), " values for its shape of ", n);
      v.write_dataset(std::to_string(i), w.shape, w.data.data());
    }
  }
}

KerasWeights read_keras3_weights(const H5Group& root) {
  Walk walk;
  walk.saveable(root, "");
  walk.out.keyed_by_class = true;
  walk.out.names_from_file = walk.every_leaf_named && !walk.out.layers.empty();
  return std::move(walk.out);
}

}  // namespace kiln
