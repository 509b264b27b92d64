// A drawing surface for Kiln's pictures (training curves, confusion matrices, contact sheets).
// One drawing routine draws on a Canvas; two backends turn it into a file:
//   - SVG, written by Kiln itself as plain XML, so the text stays <text> (searchable, testable,
//     crisp at any zoom) and a line stays one <polyline>; it needs no library at all;
//   - PNG, rasterised by Cairo (Debian's libcairo2), when the build found it.
// Why not Cairo's own SVG surface: it turns every glyph into a path, so an SVG would hold no
// class names as text. Why not PLplot: its API draws whole plots its way (one viewport, its own
// legend), and the pictures here need a few lines, rectangles and labels placed by hand.
// Coordinates are pixels, y down, origin at the top left.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln::plot {

struct Color {
  double r = 0, g = 0, b = 0, a = 1;  // each in [0, 1]
};
struct Point {
  double x = 0, y = 0;
};
enum class Anchor { Start, Middle, End };  // where the text's point sits along it

struct TextStyle {
  double size = 12;  // pixels
  Color color{};
  Anchor anchor = Anchor::Start;
  bool bold = false;
  double rotate_degrees = 0;  // counter-clockwise, around the anchor point
};

class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual void polyline(const std::vector<Point>& points, Color color, double width,
                        bool dashed = false) = 0;
  virtual void rect(double x, double y, double w, double h, Color fill) = 0;
  virtual void rect_outline(double x, double y, double w, double h, Color stroke, double width) = 0;
  virtual void circle(Point centre, double radius, Color fill) = 0;
  // `text` is UTF-8; its baseline passes through `at`.
  virtual void text(Point at, const std::string& text, const TextStyle& style) = 0;
  // An RGB image (h, w, 3) uint8 scaled into the box.
  virtual void image(double x, double y, double w, double h, const std::uint8_t* rgb,
                     std::int64_t width, std::int64_t height) = 0;
};

// About how wide `text` is at `size` pixels in a sans-serif font: layout uses it to leave room
// for labels, the same estimate for both backends, so the two files agree.
double text_width(const std::string& text, double size);

using Drawing = std::function<void(Canvas&)>;

// The drawing as an SVG document of width x height pixels.
std::string render_svg(int width, int height, const Drawing& draw);
// Whether this build can write PNG (it found Cairo).
bool png_supported();
// The drawing as PNG bytes; throws kiln::Error when png_supported() is false.
std::string render_png(int width, int height, const Drawing& draw);

// `path` ends in .png or .svg (else kiln::Error naming it): the drawing in that format, written
// atomically (weights/durable_file.h), so a reader never sees half a picture.
void write_picture(const std::string& path, int width, int height, const Drawing& draw);

}  // namespace kiln::plot
