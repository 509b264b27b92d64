// The first value of a process-wide setting, from an environment variable and the setting's own
// parser: an unset or empty variable gives the fallback; a value the parser rejects fails with the
// variable's name before the parser's message ("KILN_CONV_ENGINE: conv engine: expected ...").
// The settings (conv engine, CPU conv algorithm, deterministic mode) call it once, from the static
// atomic that holds them, so the variable is read on first use and set() may change it later.
#pragma once

#include <cstdlib>

#include "base/error.h"

namespace kiln {

template <typename T>
T from_environment(const char* variable, T fallback, T (*parse)(const char*)) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return fallback;
  try {
    return parse(text);
  } catch (const Error& e) {
    KILN_FAIL(variable, ": ", e.what());
  }
}

}  // namespace kiln
