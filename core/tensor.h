// Tensor: a handle to a contiguous, row-major array on one device, plus what autograd needs.
// Copying a Tensor copies the handle (both see the same data), as in PyTorch; clone() copies data.
// Invariant: storage holds at least numel * dtype_size bytes; tensors never have strides.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace kiln {

class Generator;
struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage, used for "no gradient" and optional arguments

  // Factories. Contents of empty() are unspecified.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32,
                     Device device = Device::CPU) {
    return full(shape, 1.0, dtype, device);
  }
  static Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen,
                        DType dtype = DType::Float32);
  static Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen,
                       DType dtype = DType::Float32);
  // Copies host values into a new CPU tensor of the matching dtype.
  template <typename T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values);
  static Tensor scalar(double value, DType dtype = DType::Float32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  DType dtype() const;
  Device device() const;
  std::int64_t numel() const { return shape().numel(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

  // Typed access to CPU data; throws when T is not the dtype or the tensor is not on the CPU.
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;
  // Typed pointer on the tensor's own device (a device pointer for cuda): for kernel calls.
  template <typename T>
  T* device_data();
  template <typename T>
  const T* device_data() const;
  void* raw_data();  // any device, any dtype: for kernels
  const void* raw_data() const;
  // Changes whenever one of the writable accessors above hands out a pointer (Storage::version);
  // the const ones leave it alone. Shared by every tensor that views the same storage.
  std::uint64_t version() const;

  // Values as doubles on the host, from any device and dtype (tests, logging).
  std::vector<double> to_double_vector() const;
  template <typename T>
  std::vector<T> to_vector() const;  // T must be the dtype
  double item() const;               // the one value of a one-element tensor

  // Copies, never views: a new tensor with no autograd history.
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  // Same data, no history: what backward closures capture (see autograd.h).
  Tensor detach() const;
  // Overwrites this tensor's data with src's (same shape; dtype and device may differ).
  void copy_from(const Tensor& src);
  void fill(double value);

  // Autograd. Only leaves (tensors made by factories, not by ops) may set requires_grad.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);
  Tensor grad() const;  // undefined until backward() reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (the next backward writes a fresh one)
  // Backpropagates from this scalar (one element) tensor; gradients accumulate into leaves.
  void backward() const;
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }

  TensorImpl* impl() const { return impl_.get(); }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  void check_defined(const char* what) const;
  friend void set_grad_fn(Tensor& t, std::shared_ptr<Node> node);

  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  Tensor grad;                    // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;  // the op that made this tensor; null for leaves
};

}  // namespace kiln
