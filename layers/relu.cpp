#include "layers/relu.h"

#include "core/functions.h"

namespace kiln {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

}  // namespace kiln
