// The classifier's architecture as a Keras 3 .keras archive's config.json holds it, read and
// written. The JSON follows what Keras 3.15.1 writes for the recipe (checked against real files
// by tests/interop/keras_interop.py): Layer.get_config of InputLayer, Conv2D, MaxPooling2D,
// Flatten, Dense, Dropout, each wrapped by serialization_lib as {"module", "class_name",
// "config", "registered_name", "build_config"}; a Functional model's layers also carry "name" and
// "inbound_nodes" (the tensors they are called on), a Sequential's do not.
//
// Accepted: a Sequential or Functional model whose layers, with nested models' layers spliced in,
// are InputLayer(s) (batch_shape, or Keras 2's batch_input_shape, (None, S, S, 3)), VGG16's 13
// Conv2D (3x3, stride 1, "same", ReLU, bias) and 5 MaxPooling2D (2x2, stride 2) in Keras' order,
// Flatten, Dense(hidden, relu), Dropout(rate), Dense(classes, softmax), each computing in float32,
// and a Functional model's layers each called on the one before (a chain). Layer names are not
// checked: Keras numbers them per session (dense_2, ...). Anything else fails naming the layer.
#pragma once

#include <string>

#include "apps/cifar10/model_file.h"
#include "weights/keras_archive.h"

namespace kiln::app {

// The ModelConfig `config` (config.json) describes; `source` names it in errors.
ModelConfig model_config_from_keras(const KerasJson& config, const std::string& source);

// What Keras 3.15 writes for Sequential([VGG16(include_top=False, input_shape=(S, S, 3)),
// Flatten(), Dense(hidden, "relu"), Dropout(rate), Dense(classes, "softmax")]): the base a
// Functional "vgg16", layer names as Kiln's (block1_conv1, ..., flatten, dense, dropout, dense_1).
KerasJson keras_config_of(const ModelConfig& config);

}  // namespace kiln::app
