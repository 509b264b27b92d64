// reshape and flatten: new shapes over the same data (tensors are contiguous, so no copy).
#include "core/autograd.h"
#include "core/functions.h"

namespace kiln {

namespace {
std::string dims_str(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}
}  // namespace

Tensor reshape(const Tensor& x, std::vector<std::int64_t> dims) {
  const std::string asked = dims_str(dims);
  std::int64_t known = 1;
  int inferred = -1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      KILN_CHECK(inferred < 0, "reshape: only one extent may be -1, got ", asked);
      inferred = static_cast<int>(i);
    } else {
      known *= dims[i];
    }
  }
  if (inferred >= 0) {
    KILN_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", x.shape(), " to ",
               asked);
    dims[inferred] = x.numel() / known;
  }
  const Shape target(dims);
  KILN_CHECK(target.numel() == x.numel(), "reshape: cannot reshape ", x.shape(), " (", x.numel(),
             " elements) to ", target, " (", target.numel(), " elements)");
  Tensor y = x.detach();
  y.impl()->shape = target;
  if (should_record({&x})) {
    const Shape& from = x.shape();  // copied into the closure
    record(y, "reshape", {x}, [from](const Tensor& gy) {
      Tensor gx = gy.detach();
      gx.impl()->shape = from;
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor flatten(const Tensor& x) {
  KILN_CHECK(x.shape().rank() >= 1, "flatten: needs a batch dimension, got ", x.shape());
  return reshape(x, {x.shape()[0], -1});
}

}  // namespace kiln
