// KerasWeights: the contents of a Keras legacy HDF5 weights file (KERAS-FORMATS.md section 1),
// exactly as stored: channels-last shapes (conv kernels HWIO), values row-major. Binding them to
// a Kiln model (transposes, the Flatten order) is model_weights.h's job, not this file's.
//
// The reader takes every known writer's layout: root `layer_names` (or split `layer_names0`,
// `layer_names1`, ...), a full-model save's `model_weights` group, and `weight_names` entries in
// all four styles, each resolved relative to its layer's group. The writer always writes
// tf.keras 2's layout, which every Keras since reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "weights/hdf5.h"

namespace kiln {

struct KerasWeight {
  std::string name;                 // the weight_names entry: "block1_conv1/kernel:0", "kernel"...
  std::vector<std::int64_t> shape;  // as stored, e.g. (3, 3, 3, 64)
  std::vector<float> data;          // row-major, product(shape) values
};

struct KerasLayer {
  std::string name;
  std::vector<KerasWeight> weights;  // in weight_names order (Keras: kernel, then bias)
};

struct KerasWeights {
  std::vector<KerasLayer> layers;  // in layer_names order, weightless layers included
  std::string keras_version;       // "" when absent (the official VGG16 files, Keras 1)
  std::string backend;             // "" when absent
  // A Keras 3 .weights.h5 file: layers are keyed by class and order, not by name (see
  // keras3_weights.h); `names_from_file` says whether its vars groups carried the layers' names.
  bool keyed_by_class = false;
  bool names_from_file = false;
  // keyed_by_class only: each layer's key path below the root's layers/ group, one per layer:
  // "functional/conv2d_1" for layers/functional/layers/conv2d_1.
  std::vector<std::string> keys;

  const KerasLayer* find(const std::string& layer) const;  // null when absent
};

// Reads a whole file, legacy or Keras 3 .weights.h5 (a root `layers` group; keras3_weights.h).
// Every failure is one kiln::Error line that starts with the file's path: missing, not HDF5,
// truncated, no layer_names, a listed layer or weight that is not there, non-numeric data.
KerasWeights read_keras_weights(const std::string& path);
// The same from an open group that holds `layer_names` or a `model_weights` group.
KerasWeights read_keras_weights(const H5Group& root);

// A weight dataset's values, read only after its claimed size is checked against the file's:
// a corrupt dataspace can claim 2^40 values in a 20 KB file, and H5DatasetView allocates what
// it claims before HDF5 reads (or refuses) the data. Not even deflate expands past 1032:1, so
// more values than 1032 per byte of `file` is corrupt (or never-written fill: no weight either).
std::vector<float> read_weight_values(const H5DatasetView& ds, const std::string& file);

// Writes tf.keras 2's layout, atomically (write_h5_atomically): root attributes layer_names,
// backend "tensorflow", keras_version "2.15.0"; one group per layer (weightless ones too) with
// attribute weight_names; each weight's dataset at <layer>/<entry>, so "dense/kernel:0" lands
// at /dense/dense/kernel:0 as h5py puts it. Weight names are written as given.
void write_keras_weights(const std::string& path, const KerasWeights& weights);
// The same into an open group (a checkpoint adds its own group beside the layers).
void write_keras_weights(H5Group& root, const KerasWeights& weights);

}  // namespace kiln
