// Charts drawn on a Canvas: a line panel (axes with round-number ticks, series, vertical
// markers, a legend) and a heat map of a matrix with counts in its cells. The cifar10 pictures
// (apps/cifar10/pictures.h) are built from these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/plot/canvas.h"

namespace kiln::plot {

// A palette that stays distinguishable for colour-blind readers (Okabe and Ito's).
namespace palette {
constexpr Color blue{0.0, 0.447, 0.698}, orange{0.835, 0.369, 0.0}, green{0.0, 0.620, 0.451},
    purple{0.8, 0.475, 0.655}, grey{0.45, 0.45, 0.45}, light_grey{0.88, 0.88, 0.88},
    black{0.1, 0.1, 0.1};
}  // namespace palette

// Round-number ticks covering [lo, hi]: about `target` of them, spaced 1, 2 or 5 times a power
// of ten, the first <= lo and the last >= hi. lo == hi gets a range around it.
std::vector<double> nice_ticks(double lo, double hi, int target);
// A tick's label: as few decimals as the spacing needs ("0.25", "10", "1e-05").
std::string tick_label(double value, double spacing);

struct Series {
  std::string name;          // in the legend
  std::vector<double> x, y;  // same length; NaN y values are gaps
  Color color{};
  bool dashed = false;
  bool dots = false;  // a dot on every point (few points: one epoch is a dot, not a line)
};

struct Marker {  // a vertical line across the panel at x, labelled at the top
  double x = 0;
  std::string label;
  Color color{};
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<Marker> markers;
  bool integer_x = false;  // epochs: ticks on whole numbers only
  bool y_from_zero = false;
  bool log_y = false;  // decades (a learning rate's schedule); values <= 0 are gaps
};

// Draws the panel into the box (x, y, w, h), axes and labels included.
void draw_panel(Canvas& canvas, const Panel& panel, double x, double y, double w, double h);

struct HeatMap {
  std::string title, row_label, column_label;
  std::vector<std::string> names;      // n class names, rows and columns alike
  std::vector<std::int64_t> counts;    // (n, n) row-major: [row * n + column]
  std::vector<std::string> row_notes;  // n, printed right of each row ("" for none)
  std::string notes_title;
};

// The pixel size the heat map wants for its n classes (cells, labels and notes).
void heat_map_size(const HeatMap& map, int& width, int& height);
// Cells coloured by their share of the row (white 0 to blue 1), each with its count.
void draw_heat_map(Canvas& canvas, const HeatMap& map);

}  // namespace kiln::plot
