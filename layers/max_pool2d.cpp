#include "layers/max_pool2d.h"

namespace kiln {

MaxPool2d::MaxPool2d(std::string name, const Pool2dOptions& options)
    : Module(std::move(name)), options_(options) {}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, options_); }

}  // namespace kiln
