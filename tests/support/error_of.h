// The message of the kiln::Error that f throws; fails the calling test when f throws nothing.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "base/error.h"

namespace kiln::test {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

}  // namespace kiln::test
