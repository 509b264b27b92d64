// Sequential: layers applied in order, each to the previous one's output (Keras' Sequential).
// Layer names are unique across the whole tree below it, nested Sequentials included, since
// weight files and layer() find layers by name.
#pragma once

#include <memory>
#include <string>

#include "layers/module.h"

namespace kiln {

class Sequential : public Module {
 public:
  explicit Sequential(std::string name = "sequential") : Module(std::move(name)) {}

  // Appends a layer; returns it, typed, so a builder can keep a handle.
  template <typename Layer>
  std::shared_ptr<Layer> add(std::shared_ptr<Layer> layer) {
    add_layer(layer);
    return layer;
  }

  Tensor forward(const Tensor& x) override;

  const std::vector<std::shared_ptr<Module>>& layers() const { return children(); }
  // The layer of that name at any depth (a nested Sequential's layers too); throws if absent.
  std::shared_ptr<Module> layer(const std::string& name) const;
  template <typename Layer>
  std::shared_ptr<Layer> layer(const std::string& name) const {
    auto typed = std::dynamic_pointer_cast<Layer>(layer(name));
    KILN_CHECK(typed != nullptr, "Sequential '", this->name(), "': layer '", name,
               "' is not of the requested type");
    return typed;
  }
  // Null when absent.
  std::shared_ptr<Module> find(const std::string& name) const;

 private:
  void add_layer(std::shared_ptr<Module> layer);
};

}  // namespace kiln
