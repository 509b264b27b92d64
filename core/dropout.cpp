// dropout: inverted dropout with a counter-based mask (see kernels/dropout.h).
#include "kernels/dropout.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"

namespace kiln {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_floating("dropout", x);
  KILN_CHECK(p >= 0 && p < 1, "dropout: rate must be in [0, 1), got ", p);
  if (!training || p == 0) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  const std::uint64_t offset = gen.reserve(static_cast<std::uint64_t>(x.numel()));
  dispatch<kernels::DropoutForward>("dropout", x, [&](auto dropout, auto t) {
    using T = decltype(t);
    dropout(x.numel(), p, gen.seed(), offset, x.device_data<T>(), y.device_data<T>(),
            mask.device_data<T>());
  });
  if (should_record({&x})) {
    record(y, "dropout", {x},
           [mask](const Tensor& gy) { return std::vector<Tensor>{mul(gy, mask)}; });
  }
  return y;
}

}  // namespace kiln
