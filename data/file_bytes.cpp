#include "data/file_bytes.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/error.h"

namespace kiln {

std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& what) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) KILN_FAIL(what, ": cannot open ", path, ": ", std::strerror(errno));
  // A directory opens fine on Linux (and would report a nonsense size): refuse it by name.
  struct stat st {};
  KILN_CHECK(::fstat(::fileno(f.get()), &st) == 0 && !S_ISDIR(st.st_mode), what, ": ", path,
             " is a directory, not a file");
  std::vector<std::uint8_t> bytes;
  // The size is only a hint (0 for pipes): the loop below reads until the end, whatever it is.
  if (S_ISREG(st.st_mode)) bytes.reserve(static_cast<std::size_t>(st.st_size));
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(chunk, 1, sizeof(chunk), f.get());
    bytes.insert(bytes.end(), chunk, chunk + got);
    if (got < sizeof(chunk)) break;
  }
  if (std::ferror(f.get())) KILN_FAIL(what, ": cannot read ", path, ": ", std::strerror(errno));
  return bytes;
}

}  // namespace kiln
