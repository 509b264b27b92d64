// The SVG backend: one XML element per call, numbers with two decimals.
#include <cmath>
#include <cstdio>
#include <string>

#include "apps/plot/canvas.h"
#include "base/error.h"

namespace kiln::plot {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", std::abs(v) < 0.005 ? 0.0 : v);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();  // "12.50" -> "12.5", "3.00" -> "3."
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string rgb(Color c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c.r * 255)),
                static_cast<int>(std::lround(c.g * 255)), static_cast<int>(std::lround(c.b * 255)));
  return buf;
}

std::string opacity(const char* attribute, Color c) {
  return c.a < 1 ? std::string(" ") + attribute + "=\"" + num(c.a) + "\"" : std::string();
}

std::string escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters are not allowed in XML (a class name or a file name may hold one).
        if (static_cast<unsigned char>(ch) >= 0x20 || ch == '\t' || ch == '\n') out += ch;
    }
  }
  return out;
}

const char base64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const std::string& bytes) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 |
                       static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += base64_digits[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += base64_digits[(v >> 18) & 63];
    out += base64_digits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? base64_digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

class SvgCanvas final : public Canvas {
 public:
  SvgCanvas(int width, int height) {
    out_ =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
        "width=\"" +
        std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
        std::to_string(width) + " " + std::to_string(height) +
        "\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n";
  }

  void polyline(const std::vector<Point>& points, Color color, double width, bool dashed) override {
    out_ += "<polyline fill=\"none\" stroke=\"" + rgb(color) + "\"" +
            opacity("stroke-opacity", color) + " stroke-width=\"" + num(width) +
            "\" stroke-linejoin=\"round\"" + (dashed ? " stroke-dasharray=\"6 4\"" : "") +
            " points=\"";
    for (std::size_t i = 0; i < points.size(); ++i) {
      out_ += (i ? " " : "") + num(points[i].x) + "," + num(points[i].y);
    }
    out_ += "\"/>\n";
  }

  void rect(double x, double y, double w, double h, Color fill) override {
    out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
            num(h) + "\" fill=\"" + rgb(fill) + "\"" + opacity("fill-opacity", fill) + "/>\n";
  }

  void rect_outline(double x, double y, double w, double h, Color stroke, double width) override {
    out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
            num(h) + "\" fill=\"none\" stroke=\"" + rgb(stroke) + "\" stroke-width=\"" +
            num(width) + "\"/>\n";
  }

  void circle(Point c, double radius, Color fill) override {
    out_ += "<circle cx=\"" + num(c.x) + "\" cy=\"" + num(c.y) + "\" r=\"" + num(radius) +
            "\" fill=\"" + rgb(fill) + "\"" + opacity("fill-opacity", fill) + "/>\n";
  }

  void text(Point at, const std::string& text, const TextStyle& s) override {
    static const char* const anchors[] = {"start", "middle", "end"};
    out_ += "<text x=\"" + num(at.x) + "\" y=\"" + num(at.y) + "\" font-size=\"" + num(s.size) +
            "\" fill=\"" + rgb(s.color) + "\" text-anchor=\"" +
            anchors[static_cast<int>(s.anchor)] + "\"" + (s.bold ? " font-weight=\"bold\"" : "");
    if (s.rotate_degrees != 0) {
      out_ += " transform=\"rotate(" + num(-s.rotate_degrees) + " " + num(at.x) + " " + num(at.y) +
              ")\"";
    }
    out_ += ">" + escape(text) + "</text>\n";
  }

  void image(double x, double y, double w, double h, const std::uint8_t* rgb_pixels,
             std::int64_t width, std::int64_t height) override {
    // An SVG holds a raster image as an embedded PNG, which takes Cairo to encode.
    if (!png_supported()) return;
    const std::string png =
        render_png(static_cast<int>(width), static_cast<int>(height), [&](Canvas& c) {
          c.image(0, 0, static_cast<double>(width), static_cast<double>(height), rgb_pixels, width,
                  height);
        });
    out_ += "<image x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
            num(h) + "\" href=\"data:image/png;base64," + base64(png) + "\"/>\n";
  }

  std::string finish() { return out_ + "</svg>\n"; }

 private:
  std::string out_;
};

}  // namespace

std::string render_svg(int width, int height, const Drawing& draw) {
  KILN_CHECK(width > 0 && height > 0, "render_svg: a picture of ", width, "x", height, " pixels");
  SvgCanvas canvas(width, height);
  canvas.rect(0, 0, width, height, Color{1, 1, 1});  // an opaque white page, as the PNG's
  draw(canvas);
  return canvas.finish();
}

}  // namespace kiln::plot
