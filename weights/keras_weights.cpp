#include "weights/keras_weights.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "base/error.h"
#include "weights/keras3_weights.h"

namespace kiln {

namespace {

// Keras splits a string-array attribute whose bytes exceed what an HDF5 object header holds.
constexpr std::size_t kHeaderLimit = 64512;  // Keras' HDF5_OBJECT_HEADER_LIMIT

// Keras' load_attributes_from_hdf5_group: `name` whole, or `name0`, `name1`, ... in turn.
bool has_string_list(const H5Group& g, const std::string& name) {
  return g.has_attribute(name) || g.has_attribute(name + "0");
}

std::vector<std::string> read_string_list(const H5Group& g, const std::string& name) {
  if (g.has_attribute(name)) return g.read_string_array_attribute(name);
  std::vector<std::string> out;
  for (int chunk = 0; g.has_attribute(name + std::to_string(chunk)); ++chunk) {
    for (std::string& s : g.read_string_array_attribute(name + std::to_string(chunk))) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

// Keras' save_attributes_to_hdf5_group: whole when the array (n strings of the longest one's
// length) fits an object header, else in the fewest chunks that do, split as np.array_split does.
void write_string_list(H5Group& g, const std::string& name, const std::vector<std::string>& v) {
  std::size_t width = 1;
  for (const std::string& s : v) {
    KILN_CHECK(s.size() <= kHeaderLimit, g.file(), ": ", g.path(), ": '", s.substr(0, 40),
               "...' is longer than an HDF5 attribute can hold (", kHeaderLimit, " bytes)");
    width = std::max(width, s.size());
  }
  const std::size_t n = v.size();
  std::size_t chunks = 1;
  const auto largest = [&](std::size_t k) { return (n / k + (n % k != 0)) * width; };
  while (largest(chunks) > kHeaderLimit) ++chunks;
  if (chunks == 1) {
    g.write_string_array_attribute(name, v);
    return;
  }
  std::size_t begin = 0;
  for (std::size_t k = 0; k < chunks; ++k) {
    const std::size_t count = n / chunks + (k < n % chunks ? 1 : 0);
    g.write_string_array_attribute(
        name + std::to_string(k),
        std::vector<std::string>(v.begin() + begin, v.begin() + begin + count));
    begin += count;
  }
}

// Metadata only: absent (the official VGG16 files) or of an unexpected type reads as "".
std::string optional_string(const H5Group& g, const std::string& name) {
  if (!g.has_attribute(name)) return "";
  try {
    return g.read_string_attribute(name);
  } catch (const Error&) {
    return "";
  }
}

std::string list_children(const H5Group& g) {
  std::string out;
  for (const std::string& c : g.children()) out += (out.empty() ? "" : ", ") + c;
  return out.empty() ? "none" : out;
}

std::int64_t product(const std::vector<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

}  // namespace

const KerasLayer* KerasWeights::find(const std::string& layer) const {
  for (const KerasLayer& l : layers) {
    if (l.name == layer) return &l;
  }
  return nullptr;
}

std::vector<float> read_weight_values(const H5DatasetView& ds, const std::string& file) {
  std::error_code ec;
  const std::uintmax_t bytes = std::filesystem::file_size(file, ec);
  // An archive member ("m.keras/model.weights.h5") is no file: read_floats' own bound, against
  // the in-memory file's size, is the check then.
  if (ec) return ds.read_floats();
  const double limit = 1032.0 * static_cast<double>(bytes) + 65536;
  // In double: the dims are the claim being checked, and their product may not fit in 64 bits.
  double claimed = 1;
  std::string dims;
  for (std::int64_t d : ds.shape()) {
    claimed *= static_cast<double>(static_cast<std::uint64_t>(d));
    dims += (dims.empty() ? "" : ", ") + std::to_string(static_cast<std::uint64_t>(d));
  }
  KILN_CHECK(claimed <= limit, file, ": ", ds.path(), " claims shape (", dims,
             "), more values than a ", bytes, "-byte file can hold (a corrupt dataspace)");
  return ds.read_floats();
}

KerasWeights read_keras_weights(const H5Group& root) {
  const std::string& file = root.file();
  const H5Group* g = &root;
  std::optional<H5Group> model_weights;  // a full-model save's
  if (!has_string_list(root, "layer_names")) {
    // Keras' rule: a full-model save keeps the weights one level down.
    if (root.has_group("model_weights")) {
      model_weights.emplace(root.group("model_weights"));
      g = &*model_weights;
      KILN_CHECK(
          has_string_list(*g, "layer_names"), file,
          ": the model_weights group has no layer_names attribute (not a Keras weights file)");
    } else if (root.has_group("layers") || root.has_group("vars")) {
      return read_keras3_weights(root);
    } else {
      KILN_FAIL(file,
                ": no layer_names attribute, so not a Keras weights file (top-level objects: ",
                list_children(root), ")");
    }
  }

  KerasWeights out;
  out.keras_version = optional_string(*g, "keras_version");
  if (out.keras_version.empty() && g != &root)
    out.keras_version = optional_string(root, "keras_version");
  out.backend = optional_string(*g, "backend");
  if (out.backend.empty() && g != &root) out.backend = optional_string(root, "backend");

  std::set<std::string> seen;
  for (const std::string& layer_name : read_string_list(*g, "layer_names")) {
    KILN_CHECK(seen.insert(layer_name).second, file, ": layer '", layer_name,
               "' is listed twice in layer_names");
    KILN_CHECK(g->has_group(layer_name), file, ": layer '", layer_name,
               "' is listed in layer_names but the file has no group ", g->path(),
               g->path() == "/" ? "" : "/", layer_name);
    const H5Group layer_group = g->group(layer_name);
    KerasLayer layer;
    layer.name = layer_name;
    for (const std::string& entry : read_string_list(layer_group, "weight_names")) {
      // Every style (block1_conv1_W_1:0, block1_conv1/kernel:0, kernel, block1_conv1/kernel) is a
      // path relative to the layer's group, as Keras' own loader reads it.
      KILN_CHECK(layer_group.has_dataset(entry), file, ": layer '", layer_name, "': weight '",
                 entry, "' is listed in weight_names but there is no dataset ", layer_group.path(),
                 "/", entry);
      const H5DatasetView ds = layer_group.dataset(entry);
      layer.weights.push_back({entry, ds.shape(), read_weight_values(ds, file)});
    }
    out.layers.push_back(std::move(layer));
  }
  return out;
}

KerasWeights read_keras_weights(const std::string& path) {
  const H5File file = H5File::open_read(path);
  return read_keras_weights(file.root());
}

void write_keras_weights(H5Group& root, const KerasWeights& weights) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const KerasLayer& layer : weights.layers) {
    KILN_CHECK(!layer.name.empty(), root.file(), ": a layer without a name cannot be written");
    KILN_CHECK(seen.insert(layer.name).second, root.file(), ": two layers are named '", layer.name,
               "' (weight files find layers by name)");
    names.push_back(layer.name);
  }
  write_string_list(root, "layer_names", names);
  root.write_string_attribute("backend", "tensorflow");
  root.write_string_attribute("keras_version", "2.15.0");
  for (const KerasLayer& layer : weights.layers) {
    H5Group g = root.create_group(layer.name);
    std::vector<std::string> weight_names;
    for (const KerasWeight& w : layer.weights) {
      KILN_CHECK(static_cast<std::int64_t>(w.data.size()) == product(w.shape), root.file(),
                 ": layer '", layer.name, "': weight '", w.name, "' has ", w.data.size(),
                 " values for its shape of ", product(w.shape));
      weight_names.push_back(w.name);
      g.write_dataset(w.name, w.shape, w.data.data());
    }
    write_string_list(g, "weight_names", weight_names);
  }
}

void write_keras_weights(const std::string& path, const KerasWeights& weights) {
  write_h5_atomically(path, [&](H5Group& root) { write_keras_weights(root, weights); });
}

}  // namespace kiln
