#include "apps/cifar10/model_file.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>

#include "apps/cifar10/device.h"
#include "apps/cifar10/keras_config.h"
#include "apps/cifar10/options.h"
#include "base/error.h"
#include "data/cifar10.h"
#include "layers/dropout.h"
#include "layers/vgg16.h"
#include "weights/hdf5.h"
#include "weights/keras3_weights.h"
#include "weights/keras_archive.h"
#include "weights/keras_weights.h"
#include "weights/model_weights.h"

namespace kiln::app {

namespace fs = std::filesystem;

namespace {

// The Keras version a .keras archive says wrote it: the format Kiln follows (keras_config.h).
constexpr const char* kKerasVersion = "3.15.1";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_keras_archive(const std::string& path) { return ends_with(path, ".keras"); }

// The kiln_* entries of a .keras archive's metadata.json, unprefixed; class names apart.
std::map<std::string, std::string> facts_from_metadata(const KerasJson& metadata,
                                                       std::vector<std::string>& class_names) {
  std::map<std::string, std::string> facts;
  for (const auto& [key, value] : metadata.items()) {
    if (key.rfind("kiln_", 0) != 0) continue;
    if (key == "kiln_class_names" && value.is_array()) {
      for (const KerasJson& n : value)
        class_names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
    } else if (value.is_string()) {
      facts[key.substr(5)] = value.get<std::string>();
    }
  }
  return facts;
}

// The head's sizes as the model holds them, and the image size the facts record when it fits.
ModelConfig config_of(const Module& model, const std::map<std::string, std::string>& facts) {
  ModelConfig out;
  const KerasWeights w = model_to_keras_weights(model);
  const KerasLayer* dense = w.find("dense");
  const KerasLayer* dense_1 = w.find("dense_1");
  KILN_CHECK(dense != nullptr && dense_1 != nullptr && !dense->weights.empty() &&
                 !dense_1->weights.empty(),
             "model: no dense and dense_1 layers, so not the classifier");
  out.hidden = dense->weights[0].shape.at(1);
  out.classes = dense_1->weights[0].shape.at(1);
  const auto side = static_cast<std::int64_t>(
      std::llround(std::sqrt(static_cast<double>(dense->weights[0].shape.at(0)) / 512.0)));
  out.image_size = 32 * side;
  auto size = facts.find("image_size");
  if (size != facts.end() && std::atoll(size->second.c_str()) / 32 == side) {
    out.image_size = std::atoll(size->second.c_str());
  }
  for (const auto& layer : leaf_layers(model)) {
    if (const auto* d = dynamic_cast<const Dropout*>(layer.get())) out.dropout = d->rate();
  }
  return out;
}

std::string date_saved() {  // Keras' datetime.now().strftime("%Y-%m-%d@%H:%M:%S")
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d@%H:%M:%S", &local);
  return buf;
}

void collect(const std::shared_ptr<Module>& m, std::vector<std::shared_ptr<Module>>& out) {
  if (m->children().empty()) out.push_back(m);
  for (const auto& child : m->children()) collect(child, out);
}

std::string join(const std::vector<std::string>& names, std::size_t max = 100) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ...";
  return out.empty() ? "none" : out;
}

// The (in, out) kernel of a Dense layer in the file, or an error naming the file and layer.
std::vector<std::int64_t> dense_kernel_shape(const KerasWeights& w, const std::string& layer,
                                             const std::string& path) {
  const KerasLayer* l = w.find(layer);
  if (l == nullptr || l->weights.empty()) {
    std::vector<std::string> names;
    for (const KerasLayer& k : w.layers) names.push_back(k.name);
    KILN_FAIL(path, ": no layer '", layer,
              "' with weights, so no classifier head (not a file "
              "cifar10 train or the Keras VGG16 recipe wrote?); its layers: ",
              join(names, 20));
  }
  const std::vector<std::int64_t>& s = l->weights[0].shape;
  KILN_CHECK(s.size() == 2 && s[0] > 0 && s[1] > 0, path, ": layer '", layer,
             "' has a kernel of rank ", s.size(), ", expected a Dense kernel (in, out)");
  return s;
}

// The kernels of the head's two Dense layers: by name (dense, dense_1); in a Keras 3 .weights.h5
// that does not name them so, its two dense-class layers in order, as Keras would load them.
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> head_kernel_shapes(
    const KerasWeights& w, const std::string& path) {
  const KerasLayer* dense = w.find("dense");
  const KerasLayer* dense_1 = w.find("dense_1");
  const bool named = dense != nullptr && !dense->weights.empty() && dense_1 != nullptr &&
                     !dense_1->weights.empty();
  if (w.keyed_by_class && !named) {
    std::vector<std::size_t> found;
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
      if (!w.layers[i].weights.empty() && keras3_class(w.keys.at(i)) == "dense") found.push_back(i);
    }
    KILN_CHECK(found.size() == 2, path, ": a Keras 3 file for this classifier holds two Dense ",
               "layers (the head's), found ", found.size());
    const std::vector<std::int64_t> shapes[2] = {
        dense_kernel_shape(w, w.layers[found[0]].name, path),
        dense_kernel_shape(w, w.layers[found[1]].name, path)};
    return {shapes[0], shapes[1]};
  }
  return {dense_kernel_shape(w, "dense", path), dense_kernel_shape(w, "dense_1", path)};
}

// Keras names a session's Dense layers dense, dense_1, dense_2, ...: a legacy file from the
// second model built in a session calls the head dense_2 and dense_3. When the file has no dense
// and dense_1 with weights, its layers with a rank-2 kernel, in order (legacy files list layers
// in model order), are the head, if there are exactly two, and are renamed to Kiln's names.
void name_legacy_head(KerasWeights& w) {
  const KerasLayer* dense = w.find("dense");
  const KerasLayer* dense_1 = w.find("dense_1");
  if (w.keyed_by_class || (dense != nullptr && !dense->weights.empty()) ||
      (dense_1 != nullptr && !dense_1->weights.empty())) {
    return;
  }
  std::vector<KerasLayer*> head;
  for (KerasLayer& l : w.layers) {
    if (!l.weights.empty() && l.weights[0].shape.size() == 2) head.push_back(&l);
  }
  if (head.size() != 2 || dense != nullptr || dense_1 != nullptr) return;  // errors name them
  head[0]->name = "dense";
  head[1]->name = "dense_1";
}

// The classifier a weights file holds: the head's sizes from its Dense kernels, the image size
// from dense's inputs (512 * side^2), refined by the file's image_size fact when it fits.
ModelConfig config_from_weights(const KerasWeights& weights,
                                const std::map<std::string, std::string>& facts,
                                const std::string& path) {
  ModelConfig config;
  const auto [dense, dense_1] = head_kernel_shapes(weights, path);
  KILN_CHECK(dense[1] == dense_1[0], path, ": dense has ", dense[1], " units but dense_1 takes ",
             dense_1[0], " inputs");
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(dense[0] / 512.0)));
  KILN_CHECK(side >= 1 && 512 * side * side == dense[0], path, ": dense takes ", dense[0],
             " inputs, not 512 * k^2 as after VGG16's base");
  config.hidden = dense[1];
  config.classes = dense_1[1];
  config.image_size = 32 * side;
  auto size = facts.find("image_size");
  if (size != facts.end()) {
    const std::int64_t s = std::atoll(size->second.c_str());
    if (s / 32 == side) config.image_size = s;
  }
  return config;
}

}  // namespace

std::map<std::string, std::string> read_model_facts(const std::string& path,
                                                    std::vector<std::string>* names_out) {
  std::vector<std::string> class_names;
  if (is_keras_archive(path)) {
    std::map<std::string, std::string> facts =
        facts_from_metadata(read_keras_archive(path).metadata, class_names);
    if (names_out != nullptr) *names_out = class_names;
    return facts;
  }
  std::map<std::string, std::string> facts;
  const H5File file = H5File::open_read(path);
  const H5Group root = file.root();
  for (const std::string& name : root.attribute_names()) {
    if (name == "kiln_class_names") {
      class_names = root.read_string_array_attribute(name);
    } else if (name.rfind("kiln_", 0) == 0) {
      facts[name.substr(5)] = root.read_string_attribute(name);
    }
  }
  if (root.has_group("kiln_training")) {
    const H5Group training = root.group("kiln_training");
    const auto keys = training.read_string_array_attribute("note_keys");
    const auto values = training.read_string_array_attribute("note_values");
    for (std::size_t i = 0; i < keys.size() && i < values.size(); ++i) {
      facts.emplace(keys[i], values[i]);
    }
  }
  auto names = facts.find("class_names");
  if (class_names.empty() && names != facts.end()) {
    std::string rest = names->second;
    for (std::size_t nl; (nl = rest.find('\n')) != std::string::npos; rest.erase(0, nl + 1)) {
      class_names.push_back(rest.substr(0, nl));
    }
    if (!rest.empty()) class_names.push_back(rest);
  }
  if (names_out != nullptr) *names_out = class_names;
  return facts;
}

std::shared_ptr<Sequential> build_classifier(const ModelConfig& config, Generator& init) {
  HeadOptions head;
  head.hidden = config.hidden;
  head.dropout = config.dropout;
  head.classes = config.classes;
  return vgg16_classifier(config.image_size, head, init);
}

std::vector<std::shared_ptr<Module>> leaf_layers(const Module& model) {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& child : model.children()) collect(child, out);
  return out;
}

std::string set_trainable_layers(Sequential& model, bool fine_tune,
                                 const std::string& unfreeze_from) {
  if (fine_tune) {
    model.set_trainable(true);
    return "all layers (fine-tuning)";
  }
  model.set_trainable(false);
  if (unfreeze_from.empty()) {
    model.layer("head")->set_trainable(true);
    return "head only (base frozen)";
  }
  bool on = false;
  std::vector<std::string> names;
  for (const auto& layer : leaf_layers(model)) {
    on = on || layer->name() == unfreeze_from;
    if (on) layer->set_trainable(true);
    names.push_back(layer->name());
  }
  if (!on) {
    throw UsageError("--unfreeze-from: no layer '" + unfreeze_from + "'; layers: " + join(names));
  }
  return "layers from " + unfreeze_from + " on";
}

std::string resolve_weights_path(const std::string& weights) {
  if (weights == "none") return "";
  std::error_code ec;
  if (fs::exists(weights, ec)) return weights;
  const char* home = std::getenv("HOME");
  if (weights == kDefaultWeights && home != nullptr) {
    const fs::path cached = fs::path(home) / ".keras" / "models" / kNotopWeightsName;
    if (fs::exists(cached, ec)) return cached.string();
  }
  KILN_FAIL(weights,
            " not found: get the VGG16 ImageNet weights with scripts/fetch-data "
            "(downloads https://storage.googleapis.com/tensorflow/keras-applications/vgg16/",
            kNotopWeightsName,
            ", MD5 6d6bbae143d832006294945121d1f1fc, into weights/; "
            "~/.keras/models/ is searched too), or pass --weights none for random init");
}

std::string load_base_weights(const std::string& path, Module& model) {
  LoadOptions options;
  options.allow_missing = true;  // the head is new
  options.allow_unused = true;   // fc1, fc2, predictions of a with-top file
  // A .keras archive's weights load as its model.weights.h5 would; its config is not needed.
  const LoadReport report = is_keras_archive(path)
                                ? assign_keras_weights(read_keras_archive(path).weights, model,
                                                       options, path + "/model.weights.h5")
                                : load_weights(path, model, options);
  const std::set<std::string> head{"dense", "dense_1"};
  std::vector<std::string> missing_base;
  for (const std::string& m : report.missing) {
    if (head.count(m) == 0) missing_base.push_back(m);
  }
  KILN_CHECK(missing_base.empty(), path, ": not VGG16 base weights: lacks layer(s) ",
             join(missing_base, 5));
  std::string line = "loaded " + std::to_string(report.loaded.size()) + " layers from " + path;
  if (!report.unused.empty()) line += " (ignored: " + join(report.unused) + ")";
  return line;
}

void save_model_file(const std::string& path, const Module& model,
                     const std::vector<std::string>& class_names,
                     const std::map<std::string, std::string>& facts, KerasLayout layout) {
  if (is_keras_archive(path)) {
    // Keras' load_model rebuilds the model from config.json, so one layout (nested) serves all.
    const std::vector<Keras3Entry> layers = model_to_keras3_layers(model, {"vgg16"});
    KerasJson metadata = {{"keras_version", kKerasVersion}, {"date_saved", date_saved()}};
    metadata["kiln_class_names"] = class_names;
    for (const auto& [key, value] : facts) metadata["kiln_" + key] = value;
    write_keras_archive(
        path, keras_config_of(config_of(model, facts)), metadata, [&](H5Group& root) {
          write_keras3_weights(root, layers, "sequential", {{"functional", "vgg16"}});
        });
    return;
  }
  const bool nested = layout == KerasLayout::Nested;
  const bool keras3 = ends_with(path, ".weights.h5");
  KerasWeights weights;
  std::vector<Keras3Entry> keras3_layers;
  if (keras3) {
    keras3_layers = model_to_keras3_layers(
        model, nested ? std::vector<std::string>{"vgg16"} : std::vector<std::string>{});
  } else {
    weights = nested ? model_to_keras_weights(model, {"vgg16"}) : model_to_keras_weights(model);
  }
  write_h5_atomically(path, [&](H5Group& root) {
    if (keras3) {
      write_keras3_weights(root, keras3_layers, nested ? "sequential" : "functional",
                           {{"functional", "vgg16"}});
    } else {
      write_keras_weights(root, weights);
    }
    root.write_string_array_attribute("kiln_class_names", class_names);
    for (const auto& [key, value] : facts) root.write_string_attribute("kiln_" + key, value);
  });
}

LoadedModel load_model_file(const std::string& path) {
  LoadedModel out;
  KerasWeights weights;
  std::string source = path;
  if (is_keras_archive(path)) {
    // The architecture comes from config.json; the weights match as Keras' loader matches
    // them, by class and order within each model (keras3_weights.h), whatever they are named.
    KerasArchive archive = read_keras_archive(path);
    out.config = model_config_from_keras(archive.config, path + "/config.json");
    out.facts = facts_from_metadata(archive.metadata, out.class_names);
    weights = std::move(archive.weights);
    weights.names_from_file = false;
    source = path + "/model.weights.h5";
  } else {
    weights = read_keras_weights(path);
    name_legacy_head(weights);
    out.facts = read_model_facts(path, &out.class_names);
    out.config = config_from_weights(weights, out.facts, path);
  }
  if (out.class_names.size() != static_cast<std::size_t>(out.config.classes)) {
    out.class_names.clear();
    for (std::int64_t k = 0; k < out.config.classes; ++k) {
      out.class_names.push_back(out.config.classes == 10 ? cifar10_default_class_names()[k]
                                                         : std::to_string(k));
    }
  }
  Generator init(0);  // every weight is overwritten by the file's
  out.model = build_classifier(out.config, init);
  LoadOptions options;  // every layer must be in the file; extra layers are ignored
  assign_keras_weights(weights, *out.model, options, source);
  out.model->to(compute_device());
  out.model->eval();
  return out;
}

}  // namespace kiln::app
