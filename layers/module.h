// Module: the base of every layer. A module owns its parameters (leaf Tensors) and its children,
// and is held by std::shared_ptr (modules are never copied: two handles to one layer share its
// weights, as they must).
//
// Parameter names follow Keras' weight files: "<layer>/<param>" ("block1_conv1/kernel"). A module
// names only its own parameters; its children's names pass through unchanged, so a Sequential
// (which owns none) never appears in a name, however deeply containers nest.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln {

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
  std::int64_t parameter_count() const;              // elements, as Keras' count_params()

  // Training mode (dropout active) or evaluation; recursive. Modules start in training mode.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Freezing turns requires_grad off on every parameter below, and drops stale gradients so an
  // optimiser cannot apply them: the core ops then compute no gradient for these parameters.
  void set_trainable(bool on);
  void zero_grad();

  // Converts every parameter in place, keeping its identity (handles held elsewhere, such as an
  // optimiser's, see the new data) and its trainable flag; gradients are dropped.
  void to(DType dtype);
  void to(Device device);

  const std::vector<std::shared_ptr<Module>>& children() const { return children_; }

 protected:
  // Returns the stored handle; a layer keeps a copy of it as its member.
  Tensor register_parameter(const std::string& name, Tensor value);
  void register_module(std::shared_ptr<Module> child);

 private:
  std::string name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> parameters_;  // own, unprefixed names
  std::vector<std::shared_ptr<Module>> children_;
};

// Keras' activation argument, fused into Conv2d and Dense as Keras fuses it.
enum class Activation { None, ReLU };

}  // namespace kiln
