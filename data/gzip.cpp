#include "data/gzip.h"

#include <zlib.h>

#include <algorithm>

#include "base/error.h"

namespace kiln {

bool is_gzip(const std::vector<std::uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& path,
                                 const std::string& what) {
  std::vector<std::uint8_t> out;
  // gzip's trailer holds the uncompressed size mod 2^32: a good first guess for one member, but
  // only a claim, and an 18-byte file can claim 4 GiB. Deflate expands at most 1032:1, so the
  // reservation is capped at that; the loop below grows the buffer as the data really inflates.
  if (bytes.size() >= 18) {
    const std::uint8_t* t = bytes.data() + bytes.size() - 4;
    const std::size_t claimed =
        t[0] | t[1] << 8 | t[2] << 16 | static_cast<std::size_t>(t[3]) << 24;
    out.reserve(std::min(claimed, bytes.size() * 1032));
  }
  z_stream zs{};
  // 15 + 16: a gzip wrapper (not zlib's) around a deflate stream with a 32 KiB window.
  KILN_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, what, ": ", path, ": zlib failed to start");
  zs.next_in = const_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());  // dataset files are far below 4 GiB
  std::uint8_t chunk[1 << 16];
  int rc = Z_OK;
  for (;;) {
    zs.next_out = chunk;
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), chunk, chunk + (sizeof(chunk) - zs.avail_out));
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // another gzip member follows
      continue;
    }
    if (rc == Z_OK) continue;
    // Z_BUF_ERROR: no progress possible, i.e. the input ended inside the stream.
    const std::string reason = rc == Z_BUF_ERROR ? std::string("truncated")
                               : zs.msg          ? std::string(zs.msg)
                                                 : "zlib error " + std::to_string(rc);
    inflateEnd(&zs);
    KILN_FAIL(what, ": ", path, ": corrupt gzip data (", reason, ")");
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace kiln
