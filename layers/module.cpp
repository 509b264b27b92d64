#include "layers/module.h"

namespace kiln {

namespace {
// Points the parameter's own TensorImpl at new data: every copy of the handle follows, which a
// fresh Tensor would not. Parameters are leaves, so no graph refers to the old data except as
// saved copies (detach()), which keep their own storage alive.
void replace_data(Tensor& param, const Tensor& converted) {
  param.impl()->storage = converted.impl()->storage;
  param.impl()->dtype = converted.dtype();
  param.zero_grad();
}
}  // namespace

Module::Module(std::string name) : name_(std::move(name)) {
  KILN_CHECK(!name_.empty(), "Module: a layer needs a name (weight files match layers by name)");
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [param_name, t] : parameters_) out.emplace_back(name_ + "/" + param_name, t);
  for (const auto& child : children_) {
    for (auto& entry : child->named_parameters()) out.push_back(std::move(entry));
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters()) out.push_back(std::move(entry.second));
  return out;
}

std::vector<Tensor> Module::trainable_parameters() const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters()) {
    if (entry.second.requires_grad()) out.push_back(std::move(entry.second));
  }
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& entry : named_parameters()) n += entry.second.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& child : children_) child->train(on);
}

void Module::set_trainable(bool on) {
  for (auto& entry : parameters_) {
    entry.second.set_requires_grad(on);
    if (!on) entry.second.zero_grad();
  }
  for (const auto& child : children_) child->set_trainable(on);
}

void Module::zero_grad() {
  for (auto& entry : parameters_) entry.second.zero_grad();
  for (const auto& child : children_) child->zero_grad();
}

void Module::to(DType dtype) {
  for (auto& entry : parameters_) {
    if (entry.second.dtype() != dtype) replace_data(entry.second, entry.second.to(dtype));
  }
  for (const auto& child : children_) child->to(dtype);
}

void Module::to(Device device) {
  for (auto& entry : parameters_) {
    if (entry.second.device() != device) replace_data(entry.second, entry.second.to(device));
  }
  for (const auto& child : children_) child->to(device);
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  KILN_CHECK(value.defined(), name_, ": parameter '", name, "' is undefined");
  for (const auto& entry : parameters_) {
    KILN_CHECK(entry.first != name, name_, ": parameter '", name, "' registered twice");
  }
  value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return value;
}

void Module::register_module(std::shared_ptr<Module> child) {
  KILN_CHECK(child != nullptr, name_, ": cannot add a null layer");
  KILN_CHECK(child.get() != this, name_, ": a layer cannot contain itself");
  children_.push_back(std::move(child));
}

}  // namespace kiln
