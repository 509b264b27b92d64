#include "layers/conv2d.h"

#include <algorithm>

#include "layers/init.h"

namespace kiln {

namespace {
// Keras' (TensorFlow's) "same": out = ceil(in / stride), padding total = what that needs, the
// extra row (if any) at the bottom. Kiln's conv2d pads symmetrically, so an odd total cannot be
// expressed; it happens only with stride > 1 or an even kernel, never in VGG16.
std::int64_t same_padding(const std::string& layer, const char* axis, std::int64_t in,
                          std::int64_t kernel, std::int64_t stride) {
  const std::int64_t out = (in + stride - 1) / stride;
  const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + kernel - in, 0);
  KILN_CHECK(total % 2 == 0, "Conv2d '", layer, "': padding \"same\" on ", in, " ", axis,
             " with kernel ", kernel, " and stride ", stride, " needs ", total / 2, " before and ",
             total - total / 2,
             " after (asymmetric), which conv2d cannot do; use explicit padding");
  return total / 2;
}
}  // namespace

Conv2d::Conv2d(std::string name, std::int64_t in_channels, std::int64_t out_channels,
               const Conv2dConfig& config, Generator& gen)
    : Module(std::move(name)),
      in_channels_(in_channels),
      out_channels_(out_channels),
      config_(config) {
  KILN_CHECK(in_channels > 0 && out_channels > 0 && config.kernel_h > 0 && config.kernel_w > 0,
             "Conv2d '", this->name(), "': channels and kernel must be positive, got ", in_channels,
             " -> ", out_channels, " with kernel ", config.kernel_h, "x", config.kernel_w);
  KILN_CHECK(config.stride_h > 0 && config.stride_w > 0, "Conv2d '", this->name(),
             "': stride must be positive, got ", config.stride_h, "x", config.stride_w);
  KILN_CHECK(config.padding == Padding::Explicit || (config.pad_h == 0 && config.pad_w == 0),
             "Conv2d '", this->name(), "': pad_h/pad_w are for Padding::Explicit only");
  const std::int64_t area = config.kernel_h * config.kernel_w;
  kernel_ = register_parameter(
      "kernel",
      glorot_uniform(Shape{out_channels, in_channels, config.kernel_h, config.kernel_w},
                     in_channels * area, out_channels * area, gen),
      KerasLayout::ConvKernel);
  if (config.use_bias) bias_ = register_parameter("bias", Tensor::zeros(Shape{out_channels}));
}

Conv2dOptions Conv2d::options_for(std::int64_t h, std::int64_t w) const {
  Conv2dOptions o;
  o.stride_h = config_.stride_h;
  o.stride_w = config_.stride_w;
  switch (config_.padding) {
    case Padding::Valid:
      break;
    case Padding::Explicit:
      o.pad_h = config_.pad_h;
      o.pad_w = config_.pad_w;
      break;
    case Padding::Same:
      o.pad_h = same_padding(name(), "rows", h, config_.kernel_h, config_.stride_h);
      o.pad_w = same_padding(name(), "columns", w, config_.kernel_w, config_.stride_w);
      break;
  }
  return o;
}

Tensor Conv2d::forward(const Tensor& x) {
  KILN_CHECK(x.shape().rank() == 4 && x.shape()[1] == in_channels_, "Conv2d '", name(), "': input ",
             x.shape(), " does not match kernel ", kernel_.shape(), " (expected (N, ", in_channels_,
             ", H, W))");
  Conv2dOptions o = options_for(x.shape()[2], x.shape()[3]);
  o.relu = config_.activation == Activation::ReLU;  // fused: one op, one output tensor
  return conv2d(x, kernel_, bias_, o);
}

}  // namespace kiln
