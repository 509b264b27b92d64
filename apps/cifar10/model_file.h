// The classifier cifar10 trains (VGG16 base + head, layers/vgg16.h) and its files:
//   - the pretrained base (--weights), found in weights/ or Keras' cache ~/.keras/models/;
//   - best.h5: a Keras legacy weights file (Keras loads it into the same architecture, nested or
//     flat: KerasLayout below) with root
//     attributes that predict and evaluate use: kiln_class_names (string array), and the strings
//     kiln_image_size, kiln_seed, kiln_val_split, kiln_data, kiln_epoch, kiln_val_loss;
//     or best.weights.h5 (Keras 3's weights layout), the same attributes at its root; or
//     best.keras (weights/keras_archive.h), the same facts as kiln_* keys of its metadata.json;
//   - last.h5, a checkpoint (weights/checkpoint.h), keeps the same facts as notes with the same
//     keys without the prefix ("class_names" joins the names with newlines).
// A weights file's head is read from its layers, so any file train wrote, or that Keras wrote for
// the same architecture, loads: dense's kernel (in, hidden) and dense_1's (hidden, classes); in
// a Keras 3 .weights.h5 whose layers are not so named, its two Dense layers in order. A .keras
// file's architecture is read from its config.json (keras_config.h). Files are told apart by
// name: ".keras", ".weights.h5", else legacy HDF5.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "layers/sequential.h"

namespace kiln::app {

struct ModelConfig {
  std::int64_t image_size = 32, hidden = 256, classes = 10;
  double dropout = 0.5;
};

// vgg16_classifier with the config's head; layers "vgg16" (base) and "head".
std::shared_ptr<Sequential> build_classifier(const ModelConfig& config, Generator& init);

// Leaf layers (the ones weight files name), in order.
std::vector<std::shared_ptr<Module>> leaf_layers(const Module& model);

// Sets which layers train: the head only (default), everything (fine_tune), or every leaf layer
// from `unfreeze_from` on. Returns a phrase for the log ("head only (...)").
std::string set_trainable_layers(Sequential& model, bool fine_tune,
                                 const std::string& unfreeze_from);

// The file --weights names: itself when it exists; for the default, Keras' cache as a fallback;
// "" for "none". Missing: an error saying where the file comes from.
std::string resolve_weights_path(const std::string& weights);

// Loads ImageNet weights into the base (all 13 convolutions must be in the file; fc1/fc2/
// predictions are ignored; a head in the file loads too). Returns a one-line summary.
std::string load_base_weights(const std::string& path, Module& model);

// How a model file holds the base (train --keras-layout): nested, one layer "vgg16" whose
// weight_names are block1_conv1/kernel:0, ... (Keras' layout for Sequential([VGG16(...), ...]));
// flat, the base's layers at the top, as a single functional model's file has them.
enum class KerasLayout { Nested, Flat };

// Writes `model` with the kiln_* facts above, atomically: a .keras archive when the path ends in
// ".keras" (always nested; `layout` is for the others), Keras 3's .weights.h5 layout when it ends
// in ".weights.h5", the legacy layout otherwise.
void save_model_file(const std::string& path, const Module& model,
                     const std::vector<std::string>& class_names,
                     const std::map<std::string, std::string>& facts,
                     KerasLayout layout = KerasLayout::Nested);

struct LoadedModel {
  std::shared_ptr<Sequential> model;
  ModelConfig config;
  std::vector<std::string> class_names;      // from the file, else CIFAR-10's, else indices
  std::map<std::string, std::string> facts;  // kiln_* attributes or checkpoint notes, unprefixed
};

// The kiln_* root attributes (unprefixed) or a checkpoint's notes; class names when present.
std::map<std::string, std::string> read_model_facts(const std::string& path,
                                                    std::vector<std::string>* class_names);

// Builds the classifier a file describes and loads its weights (evaluation mode).
LoadedModel load_model_file(const std::string& path);

}  // namespace kiln::app
