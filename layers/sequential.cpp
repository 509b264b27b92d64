#include "layers/sequential.h"

#include <functional>

namespace kiln {

namespace {
// Depth-first search of a tree of modules for a name; null when absent.
std::shared_ptr<Module> find_below(const Module& root, const std::string& name) {
  for (const auto& child : root.children()) {
    if (child->name() == name) return child;
    if (auto found = find_below(*child, name)) return found;
  }
  return nullptr;
}
}  // namespace

void Sequential::add_layer(std::shared_ptr<Module> layer) {
  KILN_CHECK(layer != nullptr, "Sequential '", name(), "': cannot add a null layer");
  // The new layer and everything inside it must not clash with a name already here.
  const std::function<void(const Module&)> check = [&](const Module& m) {
    KILN_CHECK(m.name() != name() && find(m.name()) == nullptr, "Sequential '", name(),
               "': a layer named '", m.name(), "' is already present");
    for (const auto& child : m.children()) check(*child);
  };
  check(*layer);
  register_module(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& layer : layers()) y = layer->forward(y);
  return y;
}

std::shared_ptr<Module> Sequential::find(const std::string& name) const {
  return find_below(*this, name);
}

std::shared_ptr<Module> Sequential::layer(const std::string& name) const {
  auto found = find(name);
  KILN_CHECK(found != nullptr, "Sequential '", this->name(), "': no layer named '", name, "'");
  return found;
}

}  // namespace kiln
