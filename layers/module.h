// Module: the base of every layer. A module owns its parameters (leaf Tensors) and its children,
// and is held by std::shared_ptr (modules are never copied: two handles to one layer share its
// weights, as they must).
//
// Parameter names follow Keras' weight files: "<layer>/<param>" ("block1_conv1/kernel"). A module
// names only its own parameters; its children's names pass through unchanged, so a Sequential
// (which owns none) never appears in a name, however deeply containers nest.
//
// A module's state is its parameters (trained by an optimiser) and its buffers (state the layer
// updates itself, such as BatchNorm2d's running statistics). Weight files, checkpoints, early
// stopping and data-parallel broadcasts walk the state generically (named_state()); what a weight
// file must know of a layer beyond that, the layer says itself: each tensor's Keras layout, its
// Keras class, and what it does to the order of features (see "For weight files" below).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln {

// How a tensor's layout in Kiln relates to Keras' (weights/model_weights.cpp converts).
enum class KerasLayout {
  Same,         // stored as Keras stores it: biases, BatchNorm's vectors
  ConvKernel,   // Kiln OIHW (K, C, R, S), Keras HWIO (R, S, C, K)
  DenseKernel,  // (in, out) in both, but the rows follow a Flatten's order (layers/flatten.h)
};

// One tensor of a module's state.
struct StateTensor {
  std::string name;  // "<layer>/<name>"
  Tensor tensor;
  KerasLayout layout = KerasLayout::Same;
  bool is_buffer = false;  // false: a parameter
};

// The (C, H, W) feature map a Flatten receives, per image.
struct MapShape {
  std::int64_t c, h, w;
  std::int64_t features() const { return c * h * w; }
};

class Module {
 public:
  explicit Module(std::string name);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // This module's parameters, then each child's, in registration order.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<Tensor> trainable_parameters() const;  // those that require a gradient
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;  // likewise
  // Own parameters, then own buffers, then each child's state: per layer, the order of a Keras
  // layer's weights (trainable, then non-trainable: gamma, beta, moving_mean, moving_variance).
  std::vector<StateTensor> named_state() const;
  std::vector<Tensor> state() const;  // named_state()'s tensors
  // Elements of the state, parameters and buffers, as Keras' count_params() counts them.
  std::int64_t parameter_count() const;

  // Training mode (dropout active) or evaluation; recursive. Modules start in training mode.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Freezing turns requires_grad off on every parameter below, and drops stale gradients so an
  // optimiser cannot apply them: the core ops then compute no gradient for these parameters.
  void set_trainable(bool on);
  void zero_grad();

  // Converts every parameter and buffer in place, keeping its identity (handles held elsewhere,
  // such as an optimiser's, see the new data) and its trainable flag; gradients are dropped.
  void to(DType dtype);
  void to(Device device);

  const std::vector<std::shared_ptr<Module>>& children() const { return children_; }

  // For weight files. Keras 3 keys a layer by its class, snake-cased ("conv2d", "re_lu"): "" for
  // a module that no Keras file can hold.
  virtual std::string keras_class() const { return ""; }
  // A Flatten's declared input map, whose order the next Dense kernel's rows follow.
  virtual std::optional<MapShape> flattens_map() const { return std::nullopt; }
  // True for a layer that keeps each feature where it is (ReLU, Dropout), so that a Flatten before
  // it still decides the next Dense kernel's row order; any other layer makes new features.
  virtual bool keeps_feature_order() const { return false; }

 protected:
  // Return the stored handle; a layer keeps a copy of it as its member. A parameter requires a
  // gradient; a buffer never does, and set_trainable leaves it alone.
  Tensor register_parameter(const std::string& name, Tensor value,
                            KerasLayout layout = KerasLayout::Same);
  Tensor register_buffer(const std::string& name, Tensor value);
  void register_module(std::shared_ptr<Module> child);

 private:
  struct Own {
    std::string name;  // unprefixed
    Tensor tensor;
    KerasLayout layout;
  };
  void check_new_name(const std::string& name, const Tensor& value) const;

  std::string name_;
  bool training_ = true;
  std::vector<Own> parameters_, buffers_;
  std::vector<std::shared_ptr<Module>> children_;
};

// Keras' activation argument, fused into Conv2d and Dense as Keras fuses it.
enum class Activation { None, ReLU };

}  // namespace kiln
