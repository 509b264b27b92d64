// Reading a whole file into memory, with errors that name the file: the first step of every
// dataset reader here (the files are at most tens of megabytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// Throws kiln::Error "<what>: cannot open <path>: <reason>" (or a read error) on failure.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& what);

}  // namespace kiln
