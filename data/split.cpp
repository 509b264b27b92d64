#include "data/split.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "core/random.h"
#include "data/shuffle.h"

namespace kiln {

TrainValidation split_validation(const ImageDataset& data, double fraction, std::uint64_t seed) {
  KILN_CHECK(fraction >= 0.0 && fraction < 1.0,
             "split_validation: fraction must be in [0, 1), got ", fraction);
  const auto n_val =
      static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(data.n)));
  KILN_CHECK(fraction == 0.0 || (n_val > 0 && n_val < data.n), "split_validation: a fraction of ",
             fraction, " of ", data.n, " images leaves ", n_val, " for validation and ",
             data.n - n_val, " for training; both need at least one");
  Generator gen(seed);
  std::vector<std::int64_t> order = random_permutation(data.n, gen);
  std::vector<std::int64_t> val(order.begin(), order.begin() + n_val);
  std::vector<std::int64_t> train(order.begin() + n_val, order.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return TrainValidation{data.subset(train), data.subset(val)};
}

}  // namespace kiln
