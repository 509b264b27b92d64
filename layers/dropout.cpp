#include "layers/dropout.h"

#include "core/functions.h"

namespace kiln {

Dropout::Dropout(std::string name, double rate, std::uint64_t seed)
    : Module(std::move(name)), rate_(rate), gen_(seed) {
  KILN_CHECK(rate >= 0 && rate < 1, "Dropout '", this->name(), "': rate must be in [0, 1), got ",
             rate);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, rate_, is_training(), gen_); }

}  // namespace kiln
