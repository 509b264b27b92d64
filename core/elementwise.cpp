// add, mul, scale, relu, sum, mean: elementwise ops and full reductions.
#include "kernels/elementwise.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"
#include "core/relu_kernels.h"

namespace kiln {

namespace kk = kernels;

namespace {
void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_floating(op, a);
  check_same_dtype_device(op, a, b);
  check_same_shape(op, a, b);
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_binary("add", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch<kk::Add>("add", a, [&](auto add, auto t) {
    using T = decltype(t);
    add(a.numel(), a.device_data<T>(), b.device_data<T>(), y.device_data<T>());
  });
  if (should_record({&a, &b})) {
    record(y, "add", {a, b}, [](const Tensor& gy) { return std::vector<Tensor>{gy, gy}; });
  }
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary("mul", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch<kk::Mul>("mul", a, [&](auto mul, auto t) {
    using T = decltype(t);
    mul(a.numel(), a.device_data<T>(), b.device_data<T>(), y.device_data<T>());
  });
  if (should_record({&a, &b})) {
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    Tensor sa = a.detach(), sb = b.detach();
    record(y, "mul", {a, b}, [sa, sb, need_a, need_b](const Tensor& gy) {
      return std::vector<Tensor>{need_a ? mul(gy, sb) : Tensor(), need_b ? mul(gy, sa) : Tensor()};
    });
  }
  return y;
}

Tensor scale(const Tensor& a, double s) {
  check_floating("scale", a);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch<kk::Scale>("scale", a, [&](auto scale, auto t) {
    using T = decltype(t);
    scale(a.numel(), a.device_data<T>(), static_cast<T>(s), y.device_data<T>());
  });
  if (should_record({&a})) {
    record(y, "scale", {a}, [s](const Tensor& gy) { return std::vector<Tensor>{scale(gy, s)}; });
  }
  return y;
}

namespace detail {

void relu_forward(const char* op, const Tensor& x, Tensor& y) {
  dispatch<kk::ReluForward>(op, x, [&](auto relu, auto t) {
    using T = decltype(t);
    relu(x.numel(), x.device_data<T>(), y.device_data<T>());
  });
}

Tensor relu_backward(const char* op, const Tensor& y, const Tensor& gy) {
  Tensor gx = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
  dispatch<kk::ReluBackward>(op, gy, [&](auto relu_backward, auto t) {
    using T = decltype(t);
    relu_backward(gy.numel(), y.device_data<T>(), gy.device_data<T>(), gx.device_data<T>());
  });
  return gx;
}

}  // namespace detail

Tensor relu(const Tensor& x) {
  check_floating("relu", x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  detail::relu_forward("relu", x, y);
  if (should_record({&x})) {
    Tensor saved_y = y.detach();  // the mask is y > 0: no need to keep x
    record(y, "relu", {x}, [saved_y](const Tensor& gy) {
      return std::vector<Tensor>{detail::relu_backward("relu backward", saved_y, gy)};
    });
  }
  return y;
}

Tensor sum(const Tensor& a) {
  check_floating("sum", a);
  double total = 0;
  dispatch<kk::Sum>("sum", a, [&](auto sum, auto t) {
    using T = decltype(t);
    total = sum(a.numel(), a.device_data<T>());
  });
  Tensor y = Tensor::full(Shape{}, total, a.dtype(), a.device());
  if (should_record({&a})) {
    const Shape& shape = a.shape();  // copied into the closure
    record(y, "sum", {a}, [shape](const Tensor& gy) {
      return std::vector<Tensor>{Tensor::full(shape, gy.item(), gy.dtype(), gy.device())};
    });
  }
  return y;
}

Tensor mean(const Tensor& a) {
  KILN_CHECK(a.numel() > 0, "mean: tensor ", a.shape(), " is empty");
  return scale(sum(a), 1.0 / static_cast<double>(a.numel()));
}

void accumulate_(Tensor& dst, const Tensor& src) {
  check_binary("accumulate", dst, src);
  dispatch<kk::Axpy>("accumulate", dst, [&](auto axpy, auto t) {
    using T = decltype(t);
    axpy(dst.numel(), T(1), src.device_data<T>(), dst.device_data<T>());
  });
}

}  // namespace kiln
