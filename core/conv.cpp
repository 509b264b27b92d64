// conv2d: checks the geometry, dispatches to oneDNN / the reference / CUDA, records backward.
// With Conv2dOptions::relu the ReLU is part of the op, applied in place to the convolution's
// output: no second tensor, and the output is still in cache. (Not oneDNN's ReLU post-op: it
// turns NaN into 0; see kernels/cpu/conv2d_onednn.cpp.)
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"
#include "core/relu_kernels.h"
#include "kernels/conv2d.h"

namespace kiln {

namespace kc = kernels::cpu;

namespace {
kernels::Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& b,
                                      const Conv2dOptions& opt) {
  check_floating("conv2d", x);
  KILN_CHECK(x.shape().rank() == 4, "conv2d: input must be (N,C,H,W), got ", x.shape());
  KILN_CHECK(w.shape().rank() == 4, "conv2d: weight must be (K,C,R,S), got ", w.shape());
  check_same_dtype_device("conv2d", x, w);
  KILN_CHECK(x.shape()[1] == w.shape()[1], "conv2d: input has ", x.shape()[1],
             " channels, weight expects ", w.shape()[1], " (input shape ", x.shape(),
             ", weight shape ", w.shape(), ")");
  if (b.defined()) {
    check_same_dtype_device("conv2d", x, b);
    KILN_CHECK(b.shape() == Shape({w.shape()[0]}), "conv2d: bias ", b.shape(),
               " does not match weight ", w.shape(), " (expected [", w.shape()[0], "])");
  }
  KILN_CHECK(opt.stride_h > 0 && opt.stride_w > 0 && opt.pad_h >= 0 && opt.pad_w >= 0,
             "conv2d: strides must be positive and padding non-negative");
  kernels::Conv2dGeometry g{x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3],
                            w.shape()[0], w.shape()[2], w.shape()[3], opt.stride_h,
                            opt.stride_w, opt.pad_h,    opt.pad_w};
  KILN_CHECK(g.h + 2 * g.pad_h >= g.r && g.w + 2 * g.pad_w >= g.s, "conv2d: window ", g.r, "x", g.s,
             " is larger than the padded input ", x.shape(), " (padding ", g.pad_h, ",", g.pad_w,
             ")");
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt) {
  const kernels::Conv2dGeometry g = conv_geometry(x, w, b, opt);
  Tensor y = Tensor::empty(Shape{g.n, g.k, g.p(), g.q()}, x.dtype(), x.device());
  // Only what each gradient needs is computed: a frozen layer (w, b without gradients) under an
  // input that needs none costs no backward work at all, and never records.
  const bool record_backward = should_record({&x, &w, &b});
  const bool need_x = record_backward && x.requires_grad();
  const bool need_w = record_backward && w.requires_grad();
  const bool has_b = b.defined(), need_b = record_backward && has_b && b.requires_grad();
  dispatch<kernels::Conv2dForward>("conv2d", x, [&](auto conv, auto t) {
    using T = decltype(t);
    // oneDNN keeps the blocked x for backward-weight only when that will run (ConvVersions).
    conv(g, x.device_data<T>(), w.device_data<T>(), b.defined() ? b.device_data<T>() : nullptr,
         y.device_data<T>(), kc::ConvVersions{need_w || need_b ? x.version() : 0, w.version(), 0});
  });
  if (opt.relu) detail::relu_forward("conv2d relu", y, y);
  if (!record_backward) return y;

  Tensor sx = need_w || need_b ? x.detach() : Tensor();
  Tensor sw = need_x ? w.detach() : Tensor();
  Tensor sy = opt.relu ? y.detach() : Tensor();  // the ReLU's mask is y > 0
  record(y, opt.relu ? "conv2d_relu" : "conv2d", {x, w, b}, [=](const Tensor& gy_after) {
    const Tensor gy =
        sy.defined() ? detail::relu_backward("conv2d relu backward", sy, gy_after) : gy_after;
    Tensor gx, gw, gb;
    if (need_x) gx = Tensor::empty(Shape{g.n, g.c, g.h, g.w}, gy.dtype(), gy.device());
    if (need_w || need_b) {
      gw = Tensor::empty(Shape{g.k, g.c, g.r, g.s}, gy.dtype(), gy.device());
      if (has_b) gb = Tensor::empty(Shape{g.k}, gy.dtype(), gy.device());
    }
    dispatch<kernels::Conv2dBackwardData, kernels::Conv2dBackwardWeight>(
        "conv2d backward", gy, [&](auto backward_data, auto backward_weight, auto t) {
          using T = decltype(t);
          // gy's blocked copy from backward-data serves backward-weight when both run (oneDNN).
          const bool both = need_x && (need_w || need_b);
          if (need_x) {
            backward_data(g, gy.device_data<T>(), sw.device_data<T>(), gx.device_data<T>(),
                          kc::ConvVersions{0, sw.version(), both ? gy.version() : 0});
          }
          if (need_w || need_b) {
            backward_weight(g, sx.device_data<T>(), gy.device_data<T>(), gw.device_data<T>(),
                            gb.defined() ? gb.device_data<T>() : nullptr,
                            kc::ConvVersions{sx.version(), 0, both ? gy.version() : 0});
          }
        });
    return std::vector<Tensor>{gx, need_w ? gw : Tensor(), need_b ? gb : Tensor()};
  });
  return y;
}

}  // namespace kiln
