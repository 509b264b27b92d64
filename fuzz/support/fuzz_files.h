// What the fuzz targets share: a scratch directory per process (reused across inputs, so a run
// does not churn /tmp), files written there from the input, the input split into parts, and the
// small model the weight-file targets load into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/sequential.h"

namespace kiln::fuzz {

// Between the parts of an input that becomes several files (a folder tree, a dataset's files).
// Printable, so the seeds stay readable; libFuzzer learns it from the memmem the split does.
constexpr const char* kPartSeparator = "\nKILN-PART\n";

inline std::string as_string(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// /tmp/kiln-fuzz-<pid>, created on first use and removed at exit.
const std::string& scratch_dir();
// `path` holding exactly `bytes` (truncated first).
void write_file(const std::string& path, const std::string& bytes);
// scratch_dir()/name holding exactly `bytes`; returns its path.
std::string write_scratch_file(const std::string& name, const std::string& bytes);
// scratch_dir()/name as a new empty directory (an old one is removed first); returns its path.
std::string fresh_scratch_dir(const std::string& name);

// The input cut at each kPartSeparator into at most max_parts parts (the last keeps the rest).
std::vector<std::string> split_parts(const std::uint8_t* data, std::size_t size,
                                     std::size_t max_parts);

// conv (1->3, 3x3), pool, flatten (3x2x2), dense (12->6), dropout, dense_1 (6->3): every kind of
// layer a weight file binds to, small enough to build once per process. The seeds are its files.
std::shared_ptr<Sequential> tiny_model();

}  // namespace kiln::fuzz
