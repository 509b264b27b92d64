#include "core/tensor.h"

#include <cstring>

#include "core/autograd.h"
#include "core/random.h"
#include "kernels/device_memory.h"

namespace kiln {

namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(
      static_cast<std::size_t>(shape.numel()) * dtype_size(dtype), device);
  return impl;
}

// Calls f with a typed pointer for the tensor's dtype (CPU data): writable for a Tensor&,
// read-only (the version left alone) for a const Tensor&.
template <typename TensorRef, typename F>
void visit_host(TensorRef& t, F&& f) {
  switch (t.dtype()) {
    case DType::Float32:
      f(t.template data<float>());
      break;
    case DType::Float64:
      f(t.template data<double>());
      break;
    case DType::Int32:
      f(t.template data<std::int32_t>());
      break;
  }
}

// Copies between devices (same byte count), whichever way it goes.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, bytes);
  } else if (dst_dev == Device::CUDA && src_dev == Device::CPU) {
    kernels::cuda::copy_host_to_device(dst, src, bytes);
  } else if (dst_dev == Device::CPU && src_dev == Device::CUDA) {
    kernels::cuda::copy_device_to_host(dst, src, bytes);
  } else {
    kernels::cuda::copy_device_to_device(dst, src, bytes);
  }
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return Tensor(make_impl(shape, dtype, device));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device == Device::CUDA) {
    kernels::cuda::memset_zero(t.raw_data(), t.nbytes());
  } else if (t.nbytes() > 0) {
    std::memset(t.raw_data(), 0, t.nbytes());
  }
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  visit_host(t, [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform(lo, hi));
  });
  return t;
}

Tensor Tensor::normal(const Shape& shape, double mean, double stddev, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  visit_host(t, [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.normal(mean, stddev));
  });
  return t;
}

template <typename T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values) {
  KILN_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "from_vector: shape ",
             shape, " needs ", shape.numel(), " values, got ", values.size());
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), t.nbytes());
  return t;
}
template Tensor Tensor::from_vector<float>(const Shape&, const std::vector<float>&);
template Tensor Tensor::from_vector<double>(const Shape&, const std::vector<double>&);
template Tensor Tensor::from_vector<std::int32_t>(const Shape&, const std::vector<std::int32_t>&);

Tensor Tensor::scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

void Tensor::check_defined(const char* what) const {
  KILN_CHECK(impl_ != nullptr, "Tensor::", what, " called on an undefined tensor");
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}
DType Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device();
}

template <typename T>
T* Tensor::data() {
  check_defined("data");
  KILN_CHECK(impl_->dtype == dtype_of<T>(), "Tensor::data: tensor ", shape(), " is ", dtype(),
             ", asked for ", dtype_name(dtype_of<T>()));
  KILN_CHECK(device() == Device::CPU, "Tensor::data: tensor ", shape(),
             " lives on cuda; copy it to the cpu first");
  impl_->storage->touch();  // the caller may write
  return static_cast<T*>(impl_->storage->data());
}
template <typename T>
const T* Tensor::data() const {
  check_defined("data");
  KILN_CHECK(impl_->dtype == dtype_of<T>(), "Tensor::data: tensor ", shape(), " is ", dtype(),
             ", asked for ", dtype_name(dtype_of<T>()));
  KILN_CHECK(device() == Device::CPU, "Tensor::data: tensor ", shape(),
             " lives on cuda; copy it to the cpu first");
  return static_cast<const T*>(impl_->storage->data());
}
template float* Tensor::data<float>();
template double* Tensor::data<double>();
template std::int32_t* Tensor::data<std::int32_t>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const std::int32_t* Tensor::data<std::int32_t>() const;

template <typename T>
T* Tensor::device_data() {
  check_defined("device_data");
  KILN_CHECK(impl_->dtype == dtype_of<T>(), "Tensor::device_data: tensor ", shape(), " is ",
             dtype(), ", asked for ", dtype_name(dtype_of<T>()));
  impl_->storage->touch();  // the caller may write
  return static_cast<T*>(impl_->storage->data());
}
template <typename T>
const T* Tensor::device_data() const {
  check_defined("device_data");
  KILN_CHECK(impl_->dtype == dtype_of<T>(), "Tensor::device_data: tensor ", shape(), " is ",
             dtype(), ", asked for ", dtype_name(dtype_of<T>()));
  return static_cast<const T*>(impl_->storage->data());
}
template float* Tensor::device_data<float>();
template double* Tensor::device_data<double>();
template std::int32_t* Tensor::device_data<std::int32_t>();
template const float* Tensor::device_data<float>() const;
template const double* Tensor::device_data<double>() const;
template const std::int32_t* Tensor::device_data<std::int32_t>() const;

void* Tensor::raw_data() {
  check_defined("raw_data");
  impl_->storage->touch();  // the caller may write
  return impl_->storage->data();
}
std::uint64_t Tensor::version() const {
  check_defined("version");
  return impl_->storage->version();
}

const void* Tensor::raw_data() const {
  check_defined("raw_data");
  return impl_->storage->data();
}

std::vector<double> Tensor::to_double_vector() const {
  const Tensor host = device() == Device::CPU ? *this : to(Device::CPU);
  std::vector<double> out(static_cast<std::size_t>(numel()));
  visit_host(host, [&](auto* p) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  return out;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  const Tensor host = device() == Device::CPU ? *this : to(Device::CPU);
  const T* p = host.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int32_t> Tensor::to_vector<std::int32_t>() const;

double Tensor::item() const {
  KILN_CHECK(numel() == 1, "Tensor::item: tensor ", shape(), " has ", numel(),
             " elements, not one");
  return to_double_vector()[0];
}

Tensor Tensor::to(Device device) const {
  Tensor out = empty(shape(), dtype(), device);
  copy_bytes(out.raw_data(), device, raw_data(), this->device(), nbytes());
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return clone();
  KILN_CHECK(device() == Device::CPU, "Tensor::to(", dtype_name(dtype), "): dtype conversion ",
             "runs on the cpu; tensor ", shape(), " is on cuda");
  Tensor out = empty(shape(), dtype);
  const std::vector<double> values = to_double_vector();
  visit_host(out, [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return out;
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

void Tensor::copy_from(const Tensor& src) {
  KILN_CHECK(src.shape() == shape(), "copy_from: source ", src.shape(), " and destination ",
             shape(), " differ in shape");
  if (src.dtype() != dtype()) {
    copy_from(src.device() == Device::CPU ? src.to(dtype()) : src.to(Device::CPU).to(dtype()));
    return;
  }
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::fill(double value) {
  if (device() == Device::CUDA) {
    copy_from(full(shape(), value, dtype(), Device::CPU));
    return;
  }
  visit_host(*this, [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (std::int64_t i = 0; i < numel(); ++i) p[i] = static_cast<T>(value);
  });
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  check_defined("set_requires_grad");
  KILN_CHECK(is_leaf(), "set_requires_grad: tensor ", shape(),
             " was computed by an op; only leaves (parameters, inputs) can be marked");
  KILN_CHECK(!on || is_floating(dtype()), "set_requires_grad: ", dtype(), " tensor ", shape(),
             " cannot have a gradient");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  check_defined("grad");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) {
  check_defined("set_grad");
  KILN_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient ", g.shape(),
             " does not match tensor ", shape());
  impl_->grad = g;
}

void Tensor::zero_grad() {
  check_defined("zero_grad");
  impl_->grad = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}

void Tensor::backward() const {
  check_defined("backward");
  KILN_CHECK(numel() == 1, "backward: the loss must be a single value, got shape ", shape());
  KILN_CHECK(requires_grad(), "backward: the loss does not depend on any tensor that requires a ",
             "gradient (are all parameters frozen?)");
  run_backward(*this, full(shape(), 1.0, dtype(), device()));
}

void set_grad_fn(Tensor& t, std::shared_ptr<Node> node) {
  t.impl_->grad_fn = std::move(node);
  t.impl_->requires_grad = true;
}

}  // namespace kiln
