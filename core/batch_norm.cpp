// batch_norm2d: per-channel normalisation of an NCHW tensor (see kernels/batch_norm.h).
#include "kernels/batch_norm.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"

namespace kiln {

namespace {

void check_channel_vector(const Tensor& x, const Tensor& v, const char* what) {
  KILN_CHECK(v.defined(), "batch_norm2d: ", what, " is undefined");
  check_same_dtype_device("batch_norm2d", x, v);
  KILN_CHECK(v.shape() == Shape({x.shape()[1]}), "batch_norm2d: ", what, " has shape ", v.shape(),
             " but the input ", x.shape(), " has ", x.shape()[1], " channels");
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool batch_stats,
                    const BatchNormOptions& opt) {
  check_floating("batch_norm2d", x);
  KILN_CHECK(x.shape().rank() == 4, "batch_norm2d: input must be (N, C, H, W), got ", x.shape());
  check_channel_vector(x, gamma, "gamma");
  check_channel_vector(x, beta, "beta");
  check_channel_vector(x, running_mean, "moving_mean");
  check_channel_vector(x, running_var, "moving_variance");
  KILN_CHECK(opt.epsilon > 0, "batch_norm2d: epsilon must be positive, got ", opt.epsilon);
  KILN_CHECK(opt.momentum >= 0 && opt.momentum <= 1, "batch_norm2d: momentum must be in [0, 1], ",
             "got ", opt.momentum);
  const std::int64_t n = x.shape()[0], c = x.shape()[1], hw = x.shape()[2] * x.shape()[3];
  KILN_CHECK(!batch_stats || n * hw > 0, "batch_norm2d: batch statistics of an empty batch ",
             x.shape(), " are undefined");
  const double eps = opt.epsilon;

  // The statistics the output is normalised with: the batch's (and the running ones move), or the
  // running ones as they stand.
  Tensor mean = running_mean.detach(), var = running_var.detach();
  if (batch_stats) {
    mean = Tensor::empty(Shape{c}, x.dtype(), x.device());
    var = Tensor::empty(Shape{c}, x.dtype(), x.device());
    Tensor rm = running_mean, rv = running_var;  // updated in place, not recorded
    dispatch<kernels::BatchNormStats>("batch_norm2d", x, [&](auto stats, auto t) {
      using T = decltype(t);
      stats(n, c, hw, x.device_data<T>(), mean.device_data<T>(), var.device_data<T>(), opt.momentum,
            rm.device_data<T>(), rv.device_data<T>());
    });
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch<kernels::BatchNormForward>("batch_norm2d", x, [&](auto forward, auto t) {
    using T = decltype(t);
    forward(n, c, hw, eps, x.device_data<T>(), mean.device_data<T>(), var.device_data<T>(),
            gamma.device_data<T>(), beta.device_data<T>(), y.device_data<T>());
  });
  if (!should_record({&x, &gamma, &beta})) return y;

  // The running statistics may move before backward runs (another forward): the closure keeps
  // the values this forward used, copied when they were the running ones.
  const Tensor saved_mean = batch_stats ? mean : mean.clone();
  const Tensor saved_var = batch_stats ? var : var.clone();
  const bool need_x = x.requires_grad();
  const Tensor sx = x.detach(), sgamma = gamma.detach();
  record(y, "batch_norm2d", {x, gamma, beta}, [=](const Tensor& gy) {
    Tensor gx = need_x ? Tensor::empty(sx.shape(), gy.dtype(), gy.device()) : Tensor();
    Tensor ggamma = Tensor::empty(Shape{c}, gy.dtype(), gy.device());
    Tensor gbeta = Tensor::empty(Shape{c}, gy.dtype(), gy.device());
    dispatch<kernels::BatchNormBackward>("batch_norm2d backward", gy, [&](auto backward, auto t) {
      using T = decltype(t);
      backward(n, c, hw, eps, batch_stats, sx.device_data<T>(), gy.device_data<T>(),
               saved_mean.device_data<T>(), saved_var.device_data<T>(), sgamma.device_data<T>(),
               need_x ? gx.device_data<T>() : nullptr, ggamma.device_data<T>(),
               gbeta.device_data<T>());
    });
    return std::vector<Tensor>{gx, ggamma, gbeta};
  });
  return y;
}

}  // namespace kiln
