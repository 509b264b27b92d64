#include "apps/cifar10/error_line.h"

#include <cstdint>
#include <cstdio>

namespace kiln::app {
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (2 to 4), or 0 when it is not one:
// overlong forms, surrogates and code points past U+10FFFF are not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  const std::uint8_t b = at(i);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2, cp = b & 0x1fu;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3, cp = b & 0x0fu;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4, cp = b & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xc0u) != 0x80u) return 0;
    cp = (cp << 6) | (at(i + k) & 0x3fu);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
  if (overlong || surrogate || cp > 0x10ffff) return 0;
  if (cp >= 0x80 && cp <= 0x9f) return 0;  // C1 controls (CSI is U+009B): escaped below
  // Bidirectional overrides and isolates reorder how the rest of the line is shown, and the line
  // and paragraph separators break it: a crafted name could disguise the message.
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
      cp == 0x2029) {
    return 0;
  }
  return n;
}

void append_escaped(std::string& out, std::uint8_t b) {
  char hex[5];
  std::snprintf(hex, sizeof hex, "\\x%02x", b);
  out += hex;
}

}  // namespace

std::string error_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (std::size_t i = 0; i < message.size();) {
    const auto b = static_cast<std::uint8_t>(message[i]);
    if (b == '\n' || b == '\r') {
      out += ' ';
      ++i;
    } else if (b < 0x20 || b == 0x7f) {
      append_escaped(out, b);
      ++i;
    } else if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
    } else if (const std::size_t n = utf8_sequence(message, i); n > 0) {
      out.append(message.substr(i, n));
      i += n;
    } else {
      // Not text, or a C1 control (0xc2 then 0x80-0x9f): escaped byte by byte, so nothing
      // reaches the terminal raw.
      const auto next = i + 1 < message.size() ? static_cast<std::uint8_t>(message[i + 1]) : 0;
      const std::size_t raw = b == 0xc2 && next >= 0x80 && next <= 0x9f ? 2 : 1;
      for (std::size_t k = 0; k < raw; ++k, ++i) {
        append_escaped(out, static_cast<std::uint8_t>(message[i]));
      }
    }
  }
  return out;
}

}  // namespace kiln::app
