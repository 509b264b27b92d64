#include "apps/plot/canvas.h"

#include <string>

#include "base/error.h"
#include "weights/durable_file.h"

namespace kiln::plot {

double text_width(const std::string& text, double size) {
  // DejaVu Sans' advance widths, in em, by kind of character (within ~10% for Latin text).
  double em = 0;
  for (unsigned char ch : text) {
    if ((ch & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte: counted with its lead
    if (ch == 'i' || ch == 'l' || ch == 'j' || ch == '.' || ch == ',' || ch == ':' || ch == '|' ||
        ch == '\'' || ch == '!' || ch == ' ') {
      em += 0.32;
    } else if (ch == 'm' || ch == 'w' || ch == 'M' || ch == 'W') {
      em += 0.9;
    } else if (ch >= 'A' && ch <= 'Z') {
      em += 0.7;
    } else {
      em += 0.6;
    }
  }
  return em * size;
}

void write_picture(const std::string& path, int width, int height, const Drawing& draw) {
  const auto ends_with = [&](const char* suffix) {
    const std::string s = suffix;
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  std::string bytes;
  if (ends_with(".svg")) {
    bytes = render_svg(width, height, draw);
  } else if (ends_with(".png")) {
    bytes = render_png(width, height, draw);
  } else {
    KILN_FAIL(path, ": a picture's name must end in .png or .svg");
  }
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace kiln::plot
