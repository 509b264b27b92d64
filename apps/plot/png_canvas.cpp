// The PNG backend: Cairo's image surface, antialiased, its "toy" text API with DejaVu Sans (the
// font Debian's fontconfig falls back to), encoded by cairo_surface_write_to_png_stream.
#include <cmath>
#include <string>
#include <vector>

#include "apps/plot/canvas.h"
#include "base/error.h"

#if KILN_WITH_CAIRO
#include <cairo.h>
#endif

#if KILN_WITH_CAIRO
// fontconfig (which Cairo's text goes through) keeps its configuration until the process ends,
// and LeakSanitizer reports some of it as leaked at exit (1 KB in 12 blocks, every time). The
// sanitizer runtimes call this for their built-in suppressions; other builds never do.
extern "C" __attribute__((used, visibility("default"))) const char* __lsan_default_suppressions() {
  return "leak:libfontconfig.so\n";
}
// And without the statistics of the suppressions used, which LeakSanitizer prints on stderr.
extern "C" __attribute__((used, visibility("default"))) const char* __lsan_default_options() {
  return "print_suppressions=0";
}
#endif

namespace kiln::plot {

#if KILN_WITH_CAIRO
namespace {

class CairoCanvas final : public Canvas {
 public:
  explicit CairoCanvas(cairo_t* cr) : cr_(cr) {}

  void polyline(const std::vector<Point>& points, Color color, double width, bool dashed) override {
    if (points.empty()) return;
    set(color);
    cairo_set_line_width(cr_, width);
    cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
    const double dash[] = {6, 4};
    cairo_set_dash(cr_, dash, dashed ? 2 : 0, 0);
    cairo_move_to(cr_, points[0].x, points[0].y);
    for (std::size_t i = 1; i < points.size(); ++i) cairo_line_to(cr_, points[i].x, points[i].y);
    cairo_stroke(cr_);
    cairo_set_dash(cr_, nullptr, 0, 0);
  }

  void rect(double x, double y, double w, double h, Color fill) override {
    set(fill);
    cairo_rectangle(cr_, x, y, w, h);
    cairo_fill(cr_);
  }

  void rect_outline(double x, double y, double w, double h, Color stroke, double width) override {
    set(stroke);
    cairo_set_line_width(cr_, width);
    cairo_rectangle(cr_, x, y, w, h);
    cairo_stroke(cr_);
  }

  void circle(Point c, double radius, Color fill) override {
    set(fill);
    cairo_new_sub_path(cr_);
    cairo_arc(cr_, c.x, c.y, radius, 0, 2 * M_PI);
    cairo_fill(cr_);
  }

  void text(Point at, const std::string& text, const TextStyle& s) override {
    cairo_save(cr_);
    cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           s.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, s.size);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, text.c_str(), &e);
    cairo_translate(cr_, at.x, at.y);
    cairo_rotate(cr_, -s.rotate_degrees * M_PI / 180);
    const double shift = s.anchor == Anchor::Start    ? 0
                         : s.anchor == Anchor::Middle ? e.x_advance / 2
                                                      : e.x_advance;
    cairo_move_to(cr_, -shift, 0);
    set(s.color);
    cairo_show_text(cr_, text.c_str());
    cairo_restore(cr_);
  }

  void image(double x, double y, double w, double h, const std::uint8_t* rgb, std::int64_t width,
             std::int64_t height) override {
    cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width),
                                                      static_cast<int>(height));
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
      const char* why = cairo_status_to_string(cairo_surface_status(img));
      cairo_surface_destroy(img);
      KILN_FAIL("cannot draw a ", width, "x", height, " image: ", why);
    }
    cairo_surface_flush(img);
    unsigned char* data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (std::int64_t r = 0; r < height; ++r) {
      auto* row = reinterpret_cast<std::uint32_t*>(data + r * stride);
      for (std::int64_t c = 0; c < width; ++c) {
        const std::uint8_t* p = rgb + (r * width + c) * 3;
        row[c] = std::uint32_t{p[0]} << 16 | std::uint32_t{p[1]} << 8 | p[2];
      }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    cairo_scale(cr_, w / static_cast<double>(width), h / static_cast<double>(height));
    cairo_set_source_surface(cr_, img, 0, 0);
    // Nearest neighbour: a 32x32 CIFAR image enlarged stays its pixels, not a blur.
    cairo_pattern_set_filter(cairo_get_source(cr_), CAIRO_FILTER_NEAREST);
    cairo_paint(cr_);
    cairo_restore(cr_);
    cairo_surface_destroy(img);
  }

 private:
  void set(Color c) { cairo_set_source_rgba(cr_, c.r, c.g, c.b, c.a); }
  cairo_t* cr_;
};

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

bool png_supported() { return true; }

std::string render_png(int width, int height, const Drawing& draw) {
  KILN_CHECK(width > 0 && height > 0, "render_png: a picture of ", width, "x", height, " pixels");
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);  // an opaque white page, as the SVG's viewer shows it
  cairo_paint(cr);
  CairoCanvas canvas(cr);
  std::string png;
  try {
    draw(canvas);
  } catch (...) {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    throw;
  }
  const cairo_status_t drawn = cairo_status(cr);
  cairo_destroy(cr);
  const cairo_status_t written =
      drawn == CAIRO_STATUS_SUCCESS ? cairo_surface_write_to_png_stream(surface, append_bytes, &png)
                                    : drawn;
  cairo_surface_destroy(surface);
  KILN_CHECK(written == CAIRO_STATUS_SUCCESS, "cannot draw a ", width, "x", height,
             " PNG: ", cairo_status_to_string(written));
  return png;
}

#else

bool png_supported() { return false; }

std::string render_png(int, int, const Drawing&) {
  KILN_FAIL(
      "this build has no PNG pictures (Cairo was not found when it was configured; Debian: "
      "libcairo2-dev, which scripts/setup installs); SVG works");
}

#endif

}  // namespace kiln::plot
