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
  for (auto& entry : named_state()) {
    if (!entry.is_buffer) out.emplace_back(std::move(entry.name), std::move(entry.tensor));
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& entry : named_state()) {
    if (entry.is_buffer) out.emplace_back(std::move(entry.name), std::move(entry.tensor));
  }
  return out;
}

std::vector<StateTensor> Module::named_state() const {
  std::vector<StateTensor> out;
  for (const Own& p : parameters_) out.push_back({name_ + "/" + p.name, p.tensor, p.layout, false});
  for (const Own& b : buffers_) out.push_back({name_ + "/" + b.name, b.tensor, b.layout, true});
  for (const auto& child : children_) {
    for (auto& entry : child->named_state()) out.push_back(std::move(entry));
  }
  return out;
}

std::vector<Tensor> Module::state() const {
  std::vector<Tensor> out;
  for (auto& entry : named_state()) out.push_back(std::move(entry.tensor));
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
  for (const auto& entry : named_state()) n += entry.tensor.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& child : children_) child->train(on);
}

void Module::set_trainable(bool on) {
  for (Own& p : parameters_) {
    p.tensor.set_requires_grad(on);
    if (!on) p.tensor.zero_grad();
  }
  for (const auto& child : children_) child->set_trainable(on);
}

void Module::zero_grad() {
  for (Own& p : parameters_) p.tensor.zero_grad();
  for (const auto& child : children_) child->zero_grad();
}

void Module::to(DType dtype) {
  for (std::vector<Own>* own : {&parameters_, &buffers_}) {
    for (Own& t : *own) {
      if (t.tensor.dtype() != dtype) replace_data(t.tensor, t.tensor.to(dtype));
    }
  }
  for (const auto& child : children_) child->to(dtype);
}

void Module::to(Device device) {
  for (std::vector<Own>* own : {&parameters_, &buffers_}) {
    for (Own& t : *own) {
      if (t.tensor.device() != device) replace_data(t.tensor, t.tensor.to(device));
    }
  }
  for (const auto& child : children_) child->to(device);
}

void Module::check_new_name(const std::string& name, const Tensor& value) const {
  KILN_CHECK(value.defined(), name_, ": '", name, "' is undefined");
  for (const std::vector<Own>* own : {&parameters_, &buffers_}) {
    for (const Own& t : *own) {
      KILN_CHECK(t.name != name, name_, ": '", name, "' registered twice");
    }
  }
}

Tensor Module::register_parameter(const std::string& name, Tensor value, KerasLayout layout) {
  check_new_name(name, value);
  value.set_requires_grad(true);
  parameters_.push_back({name, value, layout});
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name, value);
  value.set_requires_grad(false);
  buffers_.push_back({name, value, KerasLayout::Same});
  return value;
}

void Module::register_module(std::shared_ptr<Module> child) {
  KILN_CHECK(child != nullptr, name_, ": cannot add a null layer");
  KILN_CHECK(child.get() != this, name_, ": a layer cannot contain itself");
  children_.push_back(std::move(child));
}

}  // namespace kiln
