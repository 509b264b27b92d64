// max_pool2d: checks the window, dispatches to the fast CPU kernel / the reference / CUDA, and
// records backward (the argmax of each window routes the gradient).
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"
#include "kernels/pool2d.h"

namespace kiln {

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  check_floating("max_pool2d", x);
  KILN_CHECK(x.shape().rank() == 4, "max_pool2d: input must be (N,C,H,W), got ", x.shape());
  const kernels::Pool2dGeometry g{x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3],
                                  opt.kernel_h, opt.kernel_w, opt.stride_h, opt.stride_w,
                                  opt.pad_h,    opt.pad_w};
  kernels::check_pool2d_geometry(g, "max_pool2d");
  const Shape out_shape{g.n, g.c, g.p(), g.q()};
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(out_shape, DType::Int32, x.device());
  dispatch<kernels::MaxPool2dForward>("max_pool2d", x, [&](auto pool, auto t) {
    using T = decltype(t);
    pool(g, x.device_data<T>(), y.device_data<T>(), argmax.device_data<std::int32_t>());
  });
  if (should_record({&x})) {
    record(y, "max_pool2d", {x}, [g, argmax](const Tensor& gy) {
      Tensor gx = Tensor::empty(Shape{g.n, g.c, g.h, g.w}, gy.dtype(), gy.device());
      dispatch<kernels::MaxPool2dBackward>("max_pool2d backward", gy, [&](auto backward, auto t) {
        using T = decltype(t);
        backward(g, gy.device_data<T>(), argmax.device_data<std::int32_t>(), gx.device_data<T>());
      });
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

}  // namespace kiln
