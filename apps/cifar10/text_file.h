// Writing small text files (history.csv, predictions) so that a failure never leaves a
// half-written or clobbered file: write a temporary beside the target, fsync, rename over it,
// fsync the directory (weights/durable_file.h).
#pragma once

#include <string>

namespace kiln::app {

// Throws kiln::Error naming `path` on failure; an existing file at `path` is then untouched.
void write_text_atomically(const std::string& path, const std::string& text);

// The whole file; throws kiln::Error naming `path` when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace kiln::app
