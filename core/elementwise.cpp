// add, mul, scale, relu, sum, mean: elementwise ops and full reductions.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"
#include "kernels/elementwise.h"

namespace kiln {

namespace kc = kernels::cpu;

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
  dispatch_cpu(
      "add", a, [&] { kc::add_fast(a.numel(), a.data<float>(), b.data<float>(), y.data<float>()); },
      [&](auto t) {
        using T = decltype(t);
        kc::add_reference<T>(a.numel(), a.data<T>(), b.data<T>(), y.data<T>());
      });
  if (should_record({&a, &b})) {
    record(y, "add", {a, b}, [](const Tensor& gy) { return std::vector<Tensor>{gy, gy}; });
  }
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary("mul", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch_cpu(
      "mul", a, [&] { kc::mul_fast(a.numel(), a.data<float>(), b.data<float>(), y.data<float>()); },
      [&](auto t) {
        using T = decltype(t);
        kc::mul_reference<T>(a.numel(), a.data<T>(), b.data<T>(), y.data<T>());
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
  dispatch_cpu(
      "scale", a,
      [&] { kc::scale_fast(a.numel(), a.data<float>(), static_cast<float>(s), y.data<float>()); },
      [&](auto t) {
        using T = decltype(t);
        kc::scale_reference<T>(a.numel(), a.data<T>(), static_cast<T>(s), y.data<T>());
      });
  if (should_record({&a})) {
    record(y, "scale", {a}, [s](const Tensor& gy) { return std::vector<Tensor>{scale(gy, s)}; });
  }
  return y;
}

Tensor relu(const Tensor& x) {
  check_floating("relu", x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_cpu(
      "relu", x, [&] { kc::relu_forward_fast(x.numel(), x.data<float>(), y.data<float>()); },
      [&](auto t) {
        using T = decltype(t);
        kc::relu_forward_reference<T>(x.numel(), x.data<T>(), y.data<T>());
      });
  if (should_record({&x})) {
    Tensor saved_y = y.detach();  // the mask is y > 0: no need to keep x
    record(y, "relu", {x}, [saved_y](const Tensor& gy) {
      Tensor gx = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
      dispatch_cpu(
          "relu backward", gy,
          [&] {
            kc::relu_backward_fast(gy.numel(), saved_y.data<float>(), gy.data<float>(),
                                   gx.data<float>());
          },
          [&](auto t) {
            using T = decltype(t);
            kc::relu_backward_reference<T>(gy.numel(), saved_y.data<T>(), gy.data<T>(),
                                           gx.data<T>());
          });
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor sum(const Tensor& a) {
  check_floating("sum", a);
  double total = 0;
  dispatch_cpu(
      "sum", a, [&] { total = kc::sum_fast(a.numel(), a.data<float>()); },
      [&](auto t) {
        using T = decltype(t);
        total = kc::sum_reference<T>(a.numel(), a.data<T>());
      });
  Tensor y = Tensor::full(Shape{}, total, a.dtype(), a.device());
  if (should_record({&a})) {
    const Shape shape = a.shape();
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
  dispatch_cpu(
      "accumulate", dst,
      [&] { kc::axpy_fast(dst.numel(), 1.f, src.data<float>(), dst.data<float>()); },
      [&](auto t) {
        using T = decltype(t);
        kc::axpy_reference<T>(dst.numel(), T(1), src.data<T>(), dst.data<T>());
      });
}

}  // namespace kiln
