#include "layers/flatten.h"

#include "core/functions.h"

namespace kiln {

Tensor Flatten::forward(const Tensor& x) {
  if (input_map_) {
    const MapShape& m = *input_map_;
    KILN_CHECK(
        x.shape().rank() == 4 && x.shape()[1] == m.c && x.shape()[2] == m.h && x.shape()[3] == m.w,
        "layer '", name(), "': expects (N,", m.c, ",", m.h, ",", m.w, ") maps, got ", x.shape());
  }
  return flatten(x);
}

}  // namespace kiln
