// kiln::Error and KILN_CHECK: the one way user-facing conditions fail.
// A failed check throws; the apps turn it into a one-line message and a non-zero exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Joins any streamable values into one message: KILN_CHECK(ok, "conv2d: input ", shape, " ...").
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace kiln

#define KILN_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) throw ::kiln::Error(::kiln::detail::concat(__VA_ARGS__)); \
  } while (0)

#define KILN_FAIL(...) throw ::kiln::Error(::kiln::detail::concat(__VA_ARGS__))
