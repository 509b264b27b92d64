// linear: the Dense layer's matrix product plus bias.
#include "kernels/linear.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"

namespace kiln {

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_floating("linear", x);
  KILN_CHECK(x.shape().rank() == 2, "linear: input must be (batch, in), got ", x.shape());
  KILN_CHECK(w.shape().rank() == 2, "linear: weight must be (in, out), got ", w.shape());
  check_same_dtype_device("linear", x, w);
  KILN_CHECK(x.shape()[1] == w.shape()[0], "linear: input has ", x.shape()[1],
             " features, weight expects ", w.shape()[0], " (input shape ", x.shape(),
             ", weight shape ", w.shape(), ")");
  const std::int64_t m = x.shape()[0], k = x.shape()[1], n = w.shape()[1];
  const bool has_b = b.defined();
  if (has_b) {
    check_same_dtype_device("linear", x, b);
    KILN_CHECK(b.shape() == Shape({n}), "linear: bias ", b.shape(), " does not match weight ",
               w.shape(), " (expected [", n, "])");
  }
  Tensor y = Tensor::empty(Shape{m, n}, x.dtype(), x.device());
  dispatch<kernels::LinearForward>("linear", x, [&](auto linear, auto t) {
    using T = decltype(t);
    linear(m, k, n, x.device_data<T>(), w.device_data<T>(), has_b ? b.device_data<T>() : nullptr,
           y.device_data<T>());
  });
  if (!should_record({&x, &w, &b})) return y;

  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool need_b = has_b && b.requires_grad();
  Tensor sx = need_w || need_b ? x.detach() : Tensor();
  Tensor sw = need_x ? w.detach() : Tensor();
  record(y, "linear", {x, w, b}, [=](const Tensor& gy) {
    Tensor gx, gw, gb;
    if (need_x) gx = Tensor::empty(Shape{m, k}, gy.dtype(), gy.device());
    if (need_w || need_b) {
      gw = Tensor::empty(Shape{k, n}, gy.dtype(), gy.device());
      if (has_b) gb = Tensor::empty(Shape{n}, gy.dtype(), gy.device());
    }
    dispatch<kernels::LinearBackwardData, kernels::LinearBackwardWeight>(
        "linear backward", gy, [&](auto backward_data, auto backward_weight, auto t) {
          using T = decltype(t);
          if (need_x) {
            backward_data(m, k, n, gy.device_data<T>(), sw.device_data<T>(), gx.device_data<T>());
          }
          if (need_w || need_b) {
            backward_weight(m, k, n, sx.device_data<T>(), gy.device_data<T>(), gw.device_data<T>(),
                            has_b ? gb.device_data<T>() : nullptr);
          }
        });
    return std::vector<Tensor>{gx, need_w ? gw : Tensor(), need_b ? gb : Tensor()};
  });
  return y;
}

}  // namespace kiln
