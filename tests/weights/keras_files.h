// Test helpers that write and inspect Keras-style HDF5 files through the bare HDF5 C API, the
// way h5py does for Keras, independently of weights/hdf5.h and the writer under test:
//   - string lists as numpy 'S<n>' arrays (fixed length, NUL-padded ASCII), [] as float64 (0,);
//   - backend / keras_version as variable-length scalar strings (h5py 3 for a bytes value);
//   - a weight name with '/' creates the intermediate groups.
// Also a scratch directory per test and a small Keras-named reference model.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace kiln::test {

// A fresh directory under the system temp dir, removed with its contents at the end of scope.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("kiln_weights_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" +
             info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// ---------------------------------------------------------------------------------------------
// Writing, as h5py does.

class RawH5Writer {
 public:
  explicit RawH5Writer(const std::string& path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(file_, 0) << path;
  }
  ~RawH5Writer() {
    if (file_ >= 0) H5Fclose(file_);
  }
  RawH5Writer(const RawH5Writer&) = delete;
  RawH5Writer& operator=(const RawH5Writer&) = delete;

  void group(const std::string& path) {
    if (H5Lexists(file_, path.c_str(), H5P_DEFAULT) > 0) return;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(file_, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(g, 0) << path;
    H5Gclose(g);
    H5Pclose(lcpl);
  }

  // A link at `path` to `target_path` inside another file (external) or this one (soft).
  void external_link(const std::string& path, const std::string& file,
                     const std::string& target_path) {
    EXPECT_GE(H5Lcreate_external(file.c_str(), target_path.c_str(), file_, path.c_str(),
                                 H5P_DEFAULT, H5P_DEFAULT),
              0)
        << path;
  }
  // A float32 dataset of n values whose raw data HDF5 reads from `file` (external storage).
  void external_storage_dataset(const std::string& path, hsize_t n, const std::string& file) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    EXPECT_GE(H5Pset_external(dcpl, file.c_str(), 0, n * sizeof(float)), 0);
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t d =
        H5Dcreate2(file_, path.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    EXPECT_GE(d, 0) << path;
    H5Dclose(d);
    H5Sclose(space);
    H5Pclose(dcpl);
  }
  // A second name for an existing object: to a group above `path`, a cycle (HDF5 allows it).
  void hard_link(const std::string& path, const std::string& target_path) {
    EXPECT_GE(
        H5Lcreate_hard(file_, target_path.c_str(), file_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT),
        0)
        << path;
  }
  void soft_link(const std::string& path, const std::string& target_path) {
    EXPECT_GE(H5Lcreate_soft(target_path.c_str(), file_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT), 0)
        << path;
  }

  // numpy.asarray([b"...", ...]): fixed-length, NUL-padded; an empty list is float64 (0,).
  void string_list_attr(const std::string& object, const std::string& name,
                        const std::vector<std::string>& values) {
    if (values.empty()) {
      hsize_t zero = 0;
      hid_t space = H5Screate_simple(1, &zero, nullptr);
      write_attr(object, name, H5T_IEEE_F64LE, space, H5T_NATIVE_DOUBLE, nullptr);
      return;
    }
    std::size_t width = 1;
    for (const auto& v : values) width = std::max(width, v.size());
    std::vector<char> buf(width * values.size(), '\0');
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::copy(values[i].begin(), values[i].end(), buf.begin() + i * width);
    }
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, width);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hsize_t n = values.size();
    hid_t space = H5Screate_simple(1, &n, nullptr);
    write_attr(object, name, type, space, type, buf.data());
    H5Tclose(type);
  }

  // A list of Python str: variable-length UTF-8 strings.
  void vlen_string_list_attr(const std::string& object, const std::string& name,
                             const std::vector<std::string>& values) {
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t n = values.size();
    hid_t space = H5Screate_simple(1, &n, nullptr);
    write_attr(object, name, type, space, type, ptrs.data());
    H5Tclose(type);
  }

  // A Python bytes value: a variable-length ASCII scalar string.
  void vlen_string_attr(const std::string& object, const std::string& name,
                        const std::string& value) {
    const char* p = value.c_str();
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    write_attr(object, name, type, H5Screate(H5S_SCALAR), type, &p);
    H5Tclose(type);
  }

  // A float32 dataset at an absolute path, intermediate groups created.
  void dataset(const std::string& path, const std::vector<std::int64_t>& dims,
               const std::vector<float>& values) {
    std::vector<hsize_t> h(dims.begin(), dims.end());
    hid_t space = h.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(h.size()), h.data(), nullptr);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d =
        H5Dcreate2(file_, path.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(d, 0) << path;
    if (!values.empty()) {
      EXPECT_GE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    }
    H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(space);
  }

  // A chunked float32 dataset of any extent with no chunk written: valid HDF5 (unwritten chunks
  // read as fill values) that costs a few bytes however large its shape.
  void chunked_empty_dataset(const std::string& path, const std::vector<std::int64_t>& dims) {
    std::vector<hsize_t> h(dims.begin(), dims.end()), chunk(h.size(), 1);
    chunk.back() = 1024;
    hid_t space = H5Screate_simple(static_cast<int>(h.size()), h.data(), nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    hid_t d =
        H5Dcreate2(file_, path.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    EXPECT_GE(d, 0) << path;
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
  }

 private:
  void write_attr(const std::string& object, const std::string& name, hid_t file_type, hid_t space,
                  hid_t mem_type, const void* data) {
    hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
    EXPECT_GE(obj, 0) << object;
    hid_t a = H5Acreate2(obj, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(a, 0) << object << " " << name;
    if (data != nullptr) {
      EXPECT_GE(H5Awrite(a, mem_type, data), 0);
    }
    H5Aclose(a);
    H5Sclose(space);
    H5Oclose(obj);
  }

  hid_t file_ = -1;
};

// ---------------------------------------------------------------------------------------------
// A model's weights as Keras holds them, written in each writer's style.

struct RefWeight {
  std::string param;                // "kernel" or "bias"
  std::vector<std::int64_t> shape;  // Keras layout: HWIO conv kernels, (in, out) dense kernels
  std::vector<float> values;
};
struct RefLayer {
  std::string name;
  std::vector<RefWeight> weights;  // empty for pools, flatten, dropout
};

enum class KerasStyle {
  Keras1,        // official VGG16 files: block1_conv1_W_1:0 in the layer group, no versions
  TfKeras2,      // block1_conv1/kernel:0, nested
  Keras3Early,   // kernel, in the layer group
  Keras3Legacy,  // block1_conv1/kernel, nested
};
inline constexpr KerasStyle kEveryKerasStyle[] = {
    KerasStyle::Keras1, KerasStyle::TfKeras2, KerasStyle::Keras3Early, KerasStyle::Keras3Legacy};

// The style's name in a parameterised test's name: the Keras that writes it, and how.
inline const char* keras_style_test_name(KerasStyle style) {
  switch (style) {
    case KerasStyle::Keras1:
      return "Keras1Official";
    case KerasStyle::TfKeras2:
      return "TfKeras2Nested";
    case KerasStyle::Keras3Early:
      return "Keras3EarlyDirect";
    case KerasStyle::Keras3Legacy:
      return "Keras3LegacyNested";
  }
  return "UnknownStyle";
}

inline std::string weight_entry(KerasStyle style, const std::string& layer,
                                const std::string& param) {
  switch (style) {
    case KerasStyle::Keras1:
      return layer + (param == "kernel" ? "_W_1:0" : "_b_1:0");
    case KerasStyle::TfKeras2:
      return layer + "/" + param + ":0";
    case KerasStyle::Keras3Early:
      return param;
    case KerasStyle::Keras3Legacy:
      return layer + "/" + param;
  }
  return "";
}

struct WriteOptions {
  bool model_weights_group = false;  // model.save("m.h5"): everything under /model_weights
  int layer_name_chunks = 1;         // > 1: layer_names0, layer_names1, ...
};

inline void write_keras_style(const std::string& path, KerasStyle style,
                              const std::vector<RefLayer>& layers,
                              const WriteOptions& options = {}) {
  RawH5Writer w(path);
  std::string base = "/";
  if (options.model_weights_group) {
    w.group("/model_weights");
    w.vlen_string_attr("/", "model_config", "{\"class_name\": \"Sequential\"}");
    base = "/model_weights/";
  }
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.name);
  if (options.layer_name_chunks <= 1) {
    w.string_list_attr(base, "layer_names", names);
  } else {
    const std::size_t k = static_cast<std::size_t>(options.layer_name_chunks);
    std::size_t begin = 0;
    for (std::size_t c = 0; c < k; ++c) {
      const std::size_t count = names.size() / k + (c < names.size() % k ? 1 : 0);
      w.string_list_attr(
          base, "layer_names" + std::to_string(c),
          std::vector<std::string>(names.begin() + begin, names.begin() + begin + count));
      begin += count;
    }
  }
  if (style != KerasStyle::Keras1) {
    w.vlen_string_attr(base, "backend", "tensorflow");
    w.vlen_string_attr(base, "keras_version", style == KerasStyle::TfKeras2 ? "2.15.0" : "3.3.3");
  }
  for (const auto& l : layers) {
    const std::string group = base + l.name;
    w.group(group);
    std::vector<std::string> entries;
    for (const auto& wt : l.weights) {
      entries.push_back(weight_entry(style, l.name, wt.param));
      w.dataset(group + "/" + entries.back(), wt.shape, wt.values);
    }
    w.string_list_attr(group, "weight_names", entries);
  }
}

// Keras 3's .weights.h5 (weights/keras3_weights.h): each layer at layers/<key>/vars/<i>, a key
// with '/' nesting it in a model ("functional/conv2d_1" is layers/functional/layers/conv2d_1).
// Keras >= 3.6 writes the attribute `name` on every vars group (`with_names`), empty ones and the
// models' own (`model_names`: key -> name, the root's is "sequential") included; a compiled
// model adds optimizer/vars.
struct Keras3Layer {
  std::string key;
  RefLayer layer;
};

inline void write_keras3_style(
    const std::string& path, const std::vector<Keras3Layer>& layers, bool with_names,
    const std::vector<std::pair<std::string, std::string>>& model_names = {
        {"functional", "vgg16"}}) {
  RawH5Writer w(path);
  std::vector<std::string> made;
  const auto vars = [&](const std::string& group, const std::string& name) {
    if (std::find(made.begin(), made.end(), group) != made.end()) return;
    made.push_back(group);
    w.group(group + "/vars");
    if (with_names) w.vlen_string_attr(group + "/vars", "name", name);
  };
  vars("", "sequential");
  for (const auto& l : layers) {
    std::string group, prefix;
    std::size_t start = 0;
    for (std::size_t slash; (slash = l.key.find('/', start)) != std::string::npos;
         start = slash + 1) {
      prefix = l.key.substr(0, slash);
      group += "/layers/" + l.key.substr(start, slash - start);
      std::string model = prefix;
      for (const auto& [key, name] : model_names) {
        if (key == prefix) model = name;
      }
      vars(group, model);
    }
    group += "/layers/" + l.key.substr(start);
    vars(group, l.layer.name);
    for (std::size_t i = 0; i < l.layer.weights.size(); ++i) {
      const RefWeight& wt = l.layer.weights[i];
      w.dataset(group + "/vars/" + std::to_string(i), wt.shape, wt.values);
    }
  }
  w.group("/optimizer/vars");
}

// Distinct values of both signs in [-0.5, 0.5], different for each seed (all-negative weights
// would let ReLU zero every activation and hide a wrong layout).
inline std::vector<float> ramp(std::int64_t n, float seed) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    v[i] = 0.5f * std::sin(100.f * seed + 0.37f * static_cast<float>(i));
  }
  return v;
}

inline RefLayer conv_layer(const std::string& name, std::int64_t in, std::int64_t out, float seed) {
  return {name,
          {{"kernel", {3, 3, in, out}, ramp(9 * in * out, seed)},
           {"bias", {out}, ramp(out, seed + 0.25f)}}};
}

inline RefLayer dense_layer(const std::string& name, std::int64_t in, std::int64_t out,
                            float seed) {
  return {name,
          {{"kernel", {in, out}, ramp(in * out, seed)}, {"bias", {out}, ramp(out, seed + 0.5f)}}};
}

// ---------------------------------------------------------------------------------------------
// Reading back what a writer produced, with the bare C API.

struct RawAttr {
  H5T_class_t type_class = H5T_NO_CLASS;
  bool variable_length = false;
  H5T_str_t strpad = H5T_STR_ERROR;
  bool scalar = false;
  std::int64_t count = 0;
  std::vector<std::string> strings;
};

inline RawAttr read_raw_attr(const std::string& path, const std::string& object,
                             const std::string& name) {
  RawAttr out;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t o = H5Oopen(f, object.c_str(), H5P_DEFAULT);
  hid_t a = H5Aopen(o, name.c_str(), H5P_DEFAULT);
  if (a < 0) {
    ADD_FAILURE() << "no attribute " << object << " " << name;
    H5Oclose(o);
    H5Fclose(f);
    return out;
  }
  hid_t t = H5Aget_type(a), s = H5Aget_space(a);
  out.type_class = H5Tget_class(t);
  out.scalar = H5Sget_simple_extent_type(s) == H5S_SCALAR;
  out.count = static_cast<std::int64_t>(H5Sget_simple_extent_npoints(s));
  if (out.type_class == H5T_STRING) {
    out.variable_length = H5Tis_variable_str(t) > 0;
    out.strpad = H5Tget_strpad(t);
    if (out.variable_length) {
      std::vector<char*> p(static_cast<std::size_t>(out.count));
      H5Aread(a, t, p.data());
      for (char* c : p) out.strings.emplace_back(c);
      H5Dvlen_reclaim(t, s, H5P_DEFAULT, p.data());
    } else {
      const std::size_t size = H5Tget_size(t);
      std::vector<char> buf(size * static_cast<std::size_t>(out.count));
      H5Aread(a, t, buf.data());
      for (std::int64_t i = 0; i < out.count; ++i) {
        const char* c = buf.data() + i * size;
        out.strings.emplace_back(c, std::find(c, c + size, '\0') - c);
      }
    }
  }
  H5Tclose(t);
  H5Sclose(s);
  H5Aclose(a);
  H5Oclose(o);
  H5Fclose(f);
  return out;
}

struct RawDataset {
  bool found = false;
  bool float32 = false;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

inline RawDataset read_raw_dataset(const std::string& path, const std::string& dataset) {
  RawDataset out;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  if (d >= 0) {
    out.found = true;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    out.float32 = H5Tequal(t, H5T_IEEE_F32LE) > 0;
    std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(s)));
    H5Sget_simple_extent_dims(s, dims.data(), nullptr);
    out.shape.assign(dims.begin(), dims.end());
    out.values.resize(static_cast<std::size_t>(H5Sget_simple_extent_npoints(s)));
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data());
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
  }
  H5Fclose(f);
  return out;
}

// Link names directly in a group, in name order.
inline std::vector<std::string> raw_children(const std::string& path, const std::string& group) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::vector<std::string> out;
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t g = H5Gopen2(f, group.c_str(), H5P_DEFAULT);
  H5G_info_t info;
  if (g >= 0 && H5Gget_info(g, &info) >= 0) {
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[1024] = {};
      H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
      out.emplace_back(name);
    }
  }
  if (g >= 0) H5Gclose(g);
  H5Fclose(f);
  return out;
}

}  // namespace kiln::test
