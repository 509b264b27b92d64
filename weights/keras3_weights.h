// Keras 3's native weights format: model.save_weights("m.weights.h5"), and the model.weights.h5
// inside a .keras archive (KERAS-FORMATS.md section 1b), read into KerasWeights and written.
//
// The layout, from keras/src/saving/saving_lib.py (Keras 3.15; _save_state, _walk_saveable,
// _save_container_state, _get_unique_name, H5IOStore.make):
//   - every saveable at inner path P keeps its own variables in P/vars/<i>, i = 0, 1, ... in the
//     order trainable then non-trainable (Layer.save_own_variables): kernel 0, bias 1;
//   - a Sequential or Functional model's `layers` list is the container P/layers, whose elements
//     are keyed NOT by layer name but by to_snake_case(class name), made unique within that one
//     container, in list order: conv2d, conv2d_1, ..., conv2d_12, dense, dense_1. So a VGG16
//     base (a Functional) nested in a Sequential is layers/functional, its first convolution
//     layers/functional/layers/conv2d. Sequential.layers omits its InputLayer; Functional.layers
//     keeps it (input_layer, no variables). The root is the model itself (P = "").
//   - since Keras 3.6, H5IOStore.make also writes the attribute `name` (the layer's name) on each
//     vars group, created even when empty; older Keras 3 files have no names;
//   - h5py does not track creation order, so the model's order is known only within one class of
//     one container (from the key's suffix), not across classes.
// Keras' own loader (_load_state) walks the model it loads into and looks each layer up by that
// key: a file loads into a model of the same structure, whatever the layers are called.
#pragma once

#include <cstdint>
#include <string>

#include "weights/hdf5.h"
#include "weights/keras_weights.h"

namespace kiln {

// Reads the file whose root group `root` holds a `layers` group. The layers with no `layers` of
// their own (leaves), depth-first, each container's keys ordered by class then suffix. A leaf's
// name is its vars group's `name` attribute when present, else its path ("layers/functional/
// layers/conv2d_1"); each weight is named by its dataset's path ("layers/dense/vars/0").
// Failures name the file and the group: no layers group, vars that are not 0..n-1, state
// outside the vars groups, a model with variables of its own, non-numeric data.
KerasWeights read_keras3_weights(const H5Group& root);

// One layer to write: its key (as above), its name (the vars group's `name` attribute) and its
// weights in Keras' layout, written as vars/0, vars/1, ... in order.
struct Keras3Entry {
  std::string key;
  std::string name;
  std::vector<KerasWeight> weights;
};

// Writes the layers as Keras 3.15 does into `root`: root vars (named `root_name`), each nested
// model's group with its own empty vars named from `model_names` (key -> name, else the key),
// and every layer's vars group, empty ones included. Keys must be unique; a layer key's
// containers must not also be layers.
void write_keras3_weights(H5Group& root, const std::vector<Keras3Entry>& layers,
                          const std::string& root_name,
                          const std::vector<std::pair<std::string, std::string>>& model_names);

// The class part of a Keras 3 key's last component: "functional/conv2d_12" -> "conv2d".
std::string keras3_class(const std::string& key);
// The container a key lives in: "functional/conv2d_12" -> "functional", "dense" -> "".
std::string keras3_container(const std::string& key);
// A key's group in the file, without the leading '/': "functional/conv2d" ->
// "layers/functional/layers/conv2d".
std::string keras3_path(const std::string& key);

}  // namespace kiln
