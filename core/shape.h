// Shape: the extents of a contiguous row-major tensor, outermost first ([N, C, H, W]).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace kiln {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) : dims_(dims) { validate(); }
  explicit Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) { validate(); }

  std::size_t rank() const { return dims_.size(); }
  // Negative indices count from the end, as in Python: shape[-1] is the last extent.
  std::int64_t operator[](int i) const;
  std::int64_t numel() const;
  const std::vector<std::int64_t>& dims() const { return dims_; }

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }
  std::string str() const;  // "[64,3,32,32]"

 private:
  void validate() const;
  std::vector<std::int64_t> dims_;
};

inline std::ostream& operator<<(std::ostream& o, const Shape& s) { return o << s.str(); }

}  // namespace kiln
