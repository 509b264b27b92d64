// Keras 3's model archive, model.save("m.keras") (KERAS-FORMATS.md section 1b): a zip holding
//   metadata.json     {"keras_version": "3.15.1", "date_saved": "2026-12-01@11:43:05"}; Keras
//                     never reads it back, so Kiln keeps its own facts there (kiln_* keys);
//   config.json       the model, {"module", "class_name", "config": {..., "layers": [...]}, ...};
//   model.weights.h5  the Keras 3 weights layout (keras3_weights.h).
// Keras' loader (saving_lib._load_model_from_fileobj) treats any fourth member as an asset
// store, so the writer writes exactly these three, stored uncompressed as Keras does.
//
// The weights are read from and written to memory (HDF5's core driver): no temporary file.
// Errors name the archive, and the member where there is one ("m.keras/model.weights.h5: ...").
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "weights/hdf5.h"
#include "weights/keras_weights.h"

namespace kiln {

// Objects keep their keys in file order, as Keras writes them (nlohmann::json would sort them).
using KerasJson = nlohmann::ordered_json;

// clang-tidy 14 finds a throw below the implicit noexcept move of the JSON members; nlohmann's
// basic_json move constructor is itself noexcept.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct KerasArchive {
  KerasJson config;      // config.json
  KerasJson metadata;    // metadata.json ({} when the archive has none)
  KerasWeights weights;  // model.weights.h5, read by read_keras3_weights
};

// Reads the three members. Fails with one line naming the file: missing, not a zip (or
// truncated), no config.json or model.weights.h5, JSON that does not parse or is not an object,
// a weights member that is not a Keras 3 weights file.
KerasArchive read_keras_archive(const std::string& path);

// Whether `path` is a zip archive (by its first bytes), whatever its name.
bool is_zip_file(const std::string& path);

// Writes an archive atomically: everything goes to "<path>.tmp-<pid>", which is synced and then
// renamed over `path`; on any failure it is removed and an existing file at `path` is untouched.
// fill_weights writes model.weights.h5's contents into its (in-memory) root group.
void write_keras_archive(const std::string& path, const KerasJson& config,
                         const KerasJson& metadata,
                         const std::function<void(H5Group& root)>& fill_weights);

}  // namespace kiln
