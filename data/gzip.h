// gzip detection and in-memory decompression (zlib), for dataset files shipped as .gz.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// True when the bytes start with gzip's magic 1f 8b.
bool is_gzip(const std::vector<std::uint8_t>& bytes);

// Inflates a whole gzip file (several concatenated members allowed, as gzip(1) allows).
// Throws kiln::Error "<what>: <path>: corrupt gzip data (...)" on bad or truncated input.
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& path,
                                 const std::string& what);

}  // namespace kiln
