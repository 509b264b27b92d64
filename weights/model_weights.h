// Keras weight files <-> a Kiln model. The model's layers are its leaf modules, walked depth-first
// through containers (nested Sequentials), and match the file's layers BY NAME; a layer's
// weights match by order (kernel, then bias), as in Keras' own loader, so every naming style
// of weight_names loads. A Keras 3 .weights.h5 keys layers by class and order, not by name
// (keras3_weights.h): its layers match by the names it carries when every model layer finds its
// own, else as Keras matches them, the model's k-th Conv2d to the file's k-th conv2d, and so on.
// Layouts are converted on the way:
//   - Conv2d kernel: file HWIO (R, S, C, K) <-> Kiln OIHW (K, C, R, S);
//   - Dense kernel: (in, out) in both, except that a Dense after a Flatten of a (C, H, W) map with
//     H*W > 1 has its rows permuted: Keras flattens NHWC (row (h*W + w)*C + c), Kiln flattens
//     NCHW (row c*H*W + h*W + w). Dropout and ReLU layers between the two change nothing. A Flatten
//     whose input_map() is unknown is taken as a 1x1 map (no permutation).
//   - everything else (biases, BatchNorm2d's gamma, beta, moving_mean, moving_variance) as stored.
// A layer's weights are its parameters, then its buffers (Module::named_state()); what the walk
// needs to know of a layer (each tensor's KerasLayout, its Keras class, Flatten's map) the layer
// says itself, so a new layer needs no change here.
// A failed load leaves the model untouched: every weight is checked and converted before any
// parameter is written.
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"
#include "weights/keras3_weights.h"
#include "weights/keras_weights.h"

namespace kiln {

struct LoadOptions {
  // Model layers with parameters that the file lacks keep their values (and are reported)
  // instead of failing the load.
  bool allow_missing = false;
  // File layers with weights that the model has no layer for are reported in `unused`; false
  // makes them an error (a checkpoint must fit its model exactly).
  bool allow_unused = true;
};

struct LoadReport {
  std::vector<std::string> loaded;   // model layers given weights, in model order
  std::vector<std::string> unused;   // file layers with weights the model has no layer for
                                     // (fc1, fc2, predictions for a base): reported, not fatal
  std::vector<std::string> missing;  // model layers with parameters the file lacks
                                     // (only with allow_missing; otherwise an error)
};

// Loads a Keras weights file (any layout read_keras_weights takes, .weights.h5 included).
LoadReport load_weights(const std::string& path, Module& model, const LoadOptions& options = {});
// Writes the model in tf.keras 2's layout, atomically; every leaf layer gets a group, weightless
// ones with an empty weight_names, and weight names "<layer>/kernel:0", "<layer>/bias:0".
void save_weights(const std::string& path, const Module& model);

// The two halves in memory (checkpoints use them; `source` names the file in errors).
KerasWeights model_to_keras_weights(const Module& model);
// Keras' nested legacy layout, as tf-keras and Keras 3 save a model with a model inside
// (Sequential([VGG16(include_top=False), Flatten(), ...])): each direct child of `model` named in
// `nested` becomes ONE layer of that name whose weight_names list its leaves' weights in order
// ("block1_conv1/kernel:0", "block1_conv1/bias:0", ...: Keras' legacy loader assigns them by
// order to the inner model's weights); every other child contributes its leaf layers as the flat
// layout does. read_keras_weights + assign_keras_weights read it back.
// As Keras does, the nested layer lists the trainable weights first, then the non-trainable ones
// (buffers such as BatchNorm2d's moving statistics, and frozen parameters), each in layer order;
// reading finds each weight's layer by name, whatever the order.
KerasWeights model_to_keras_weights(const Module& model, const std::vector<std::string>& nested);

// The model's layers keyed as Keras 3 saves them (keras3_weights.h), for write_keras3_weights:
// each direct child named in `nested` is a Functional model "functional" (its InputLayer first,
// as input_layer), other children's leaves sit at the top; with no `nested`, the top is one
// Functional model (input_layer first). Keys per container: conv2d, conv2d_1, ..., max_pooling2d,
// flatten, dropout, dense, dense_1, re_lu; names are the Kiln layers' names.
std::vector<Keras3Entry> model_to_keras3_layers(const Module& model,
                                                const std::vector<std::string>& nested);
LoadReport assign_keras_weights(const KerasWeights& weights, Module& model,
                                const LoadOptions& options, const std::string& source);

}  // namespace kiln
