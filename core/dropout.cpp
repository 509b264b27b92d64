// dropout: inverted dropout with a counter-based mask (see kernels/dropout.h).
#include "kernels/dropout.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/functions.h"

namespace kiln {

namespace kc = kernels::cpu;
namespace kcu = kernels::cuda;

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_floating("dropout", x);
  KILN_CHECK(p >= 0 && p < 1, "dropout: rate must be in [0, 1), got ", p);
  if (!training || p == 0) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  const std::uint64_t offset = gen.reserve(static_cast<std::uint64_t>(x.numel()));
  dispatch(
      "dropout", x,
      [&] {
        kc::dropout_forward_fast(x.numel(), p, gen.seed(), offset, x.device_data<float>(),
                                 y.device_data<float>(), mask.device_data<float>());
      },
      [&](auto t) {
        using T = decltype(t);
        kc::dropout_forward_reference<T>(x.numel(), p, gen.seed(), offset, x.device_data<T>(),
                                         y.device_data<T>(), mask.device_data<T>());
      },
      [&] {
        kcu::dropout_forward(x.numel(), p, gen.seed(), offset, x.device_data<float>(),
                             y.device_data<float>(), mask.device_data<float>());
      });
  if (should_record({&x})) {
    record(y, "dropout", {x},
           [mask](const Tensor& gy) { return std::vector<Tensor>{mul(gy, mask)}; });
  }
  return y;
}

}  // namespace kiln
