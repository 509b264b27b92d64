#include "core/shape.h"

#include "base/error.h"

namespace kiln {

void Shape::validate() const {
  for (auto d : dims_) KILN_CHECK(d >= 0, "shape ", str(), " has a negative extent");
}

std::int64_t Shape::operator[](int i) const {
  const int r = static_cast<int>(dims_.size());
  const int j = i < 0 ? i + r : i;
  KILN_CHECK(j >= 0 && j < r, "shape ", str(), " has no dimension ", i);
  return dims_[j];
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (auto d : dims_) n *= d;
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

}  // namespace kiln
