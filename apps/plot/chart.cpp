#include "apps/plot/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/error.h"

namespace kiln::plot {
namespace {

// 1, 2 or 5 times a power of ten, the nearest to `raw` from above.
double nice_step(double raw) {
  const double power = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

bool finite(double v) { return std::isfinite(v); }

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!finite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Maps data to pixels inside the plot box.
struct Axes {
  double left, top, width, height, x0, x1, y0, y1;
  Point at(double x, double y) const {
    return {left + (x - x0) / (x1 - x0) * width, top + height - (y - y0) / (y1 - y0) * height};
  }
};

constexpr TextStyle small(Anchor a = Anchor::Middle) { return {11, palette::grey, a}; }

void draw_legend(Canvas& canvas, const Panel& panel, const Axes& axes) {
  if (panel.series.empty()) return;
  double widest = 0;
  for (const Series& s : panel.series) widest = std::max(widest, text_width(s.name, 11));
  const double w = widest + 40, h = 18.0 * static_cast<double>(panel.series.size()) + 8;
  // The corner of the box with the fewest points in the legend's footprint.
  const Point corners[] = {{axes.left + axes.width - w - 6, axes.top + 6},
                           {axes.left + axes.width - w - 6, axes.top + axes.height - h - 6},
                           {axes.left + 6, axes.top + 6},
                           {axes.left + 6, axes.top + axes.height - h - 6}};
  int best = 0;
  std::size_t best_count = std::numeric_limits<std::size_t>::max();
  for (int c = 0; c < 4; ++c) {
    std::size_t count = 0;
    const auto inside = [&](Point p) {
      return p.x >= corners[c].x - 4 && p.x <= corners[c].x + w + 4 && p.y >= corners[c].y - 4 &&
             p.y <= corners[c].y + h + 4;
    };
    // Points along the lines too, so a legend does not sit on a segment between two epochs.
    for (const Series& s : panel.series) {
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        const Point p = axes.at(s.x[i], s.y[i]);
        count += 10 * inside(p);
        if (i + 1 == s.x.size() || !finite(s.y[i]) || !finite(s.y[i + 1])) continue;
        const Point q = axes.at(s.x[i + 1], s.y[i + 1]);
        for (int k = 1; k < 10; ++k) {
          count += inside({p.x + (q.x - p.x) * k / 10, p.y + (q.y - p.y) * k / 10});
        }
      }
    }
    // Nor on a marker's label, at the top beside its line.
    for (const Marker& m : panel.markers) {
      const double mx = axes.at(m.x, axes.y1).x, label = text_width(m.label, 10);
      if (label <= 0) continue;
      for (double dx = -label; dx <= label; dx += label / 4) {
        count += 25 * inside({mx + dx, axes.top + 12});
      }
    }
    if (count < best_count) best = c, best_count = count;
  }
  const Point o = corners[best];
  canvas.rect(o.x, o.y, w, h, Color{1, 1, 1, 0.85});
  canvas.rect_outline(o.x, o.y, w, h, palette::light_grey, 1);
  for (std::size_t i = 0; i < panel.series.size(); ++i) {
    const Series& s = panel.series[i];
    const double y = o.y + 14 + 18.0 * static_cast<double>(i);
    canvas.polyline({{o.x + 8, y - 4}, {o.x + 30, y - 4}}, s.color, 2.5, s.dashed);
    canvas.text({o.x + 36, y}, s.name, {11, palette::black, Anchor::Start});
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  KILN_CHECK(finite(lo) && finite(hi) && lo <= hi && target >= 2, "nice_ticks: bad range [", lo,
             ", ", hi, "] or count ", target);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(lo))) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double step = nice_step((hi - lo) / (target - 1));
  // Each tick as an integer times the step (or over its inverse, below 1: 3 / 5 is 0.6 exactly,
  // 3 * 0.2 is not), so labels and comparisons see round numbers.
  const double inverse = step < 1 ? std::round(1 / step) : 0;
  const auto tick = [&](double k) { return inverse > 0 ? k / inverse : k * step; };
  const double first = std::floor(lo / step + 1e-9);
  std::vector<double> ticks;
  for (double k = first; ticks.size() < 100; ++k) {
    ticks.push_back(k == 0 ? 0 : tick(k));
    if (tick(k) >= hi - step * 1e-9) break;
  }
  return ticks;
}

std::string tick_label(double value, double spacing) {
  char buf[32];
  if (spacing > 0 && spacing < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3g", value);
    return buf;
  }
  int decimals = 0;
  while (decimals < 6 && std::abs(spacing * std::pow(10, decimals) -
                                  std::round(spacing * std::pow(10, decimals))) > 1e-6) {
    ++decimals;
  }
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

void draw_panel(Canvas& canvas, const Panel& given, double x, double y, double w, double h) {
  Panel panel = given;
  if (panel.log_y) {  // drawn as log10 of the values, labelled with the values
    for (Series& s : panel.series) {
      for (double& v : s.y) v = v > 0 ? std::log10(v) : std::nan("");
    }
  }
  Range xs, ys;
  for (const Series& s : panel.series) {
    KILN_CHECK(s.x.size() == s.y.size(), "draw_panel: series '", s.name, "' has ", s.x.size(),
               " x values and ", s.y.size(), " y values");
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (finite(s.y[i])) xs.add(s.x[i]), ys.add(s.y[i]);
    }
  }
  if (xs.empty()) xs.add(0), xs.add(1);
  if (ys.empty()) ys.add(0), ys.add(1);
  if (panel.y_from_zero && !panel.log_y) ys.add(0);
  // A little room above and below, so no point sits on the frame (never below 0 for values that
  // cannot be negative: a loss, an accuracy).
  const double y_pad = (ys.hi - ys.lo) * 0.04;
  ys.lo = ys.lo >= 0 && !panel.log_y ? std::max(0.0, ys.lo - y_pad) : ys.lo - y_pad;
  ys.hi += y_pad;
  for (const Marker& m : panel.markers) xs.add(m.x);
  // x: the data's range, padded so the first and last points sit off the frame, with round
  // ticks inside it (epochs: whole numbers only). y: widened to round ticks.
  const double pad = std::max(panel.integer_x ? 0.5 : 0.0, (xs.hi - xs.lo) * 0.03);
  const double x0 = xs.hi > xs.lo || pad > 0 ? xs.lo - pad : xs.lo - 1;
  const double x1 = xs.hi > xs.lo || pad > 0 ? xs.hi + pad : xs.hi + 1;
  std::vector<double> xt;
  for (double t : nice_ticks(x0, x1, 8)) {
    if (t >= x0 && t <= x1 && (!panel.integer_x || t == std::round(t))) xt.push_back(t);
  }
  if (panel.integer_x && xt.size() > 1 && xt[1] - xt[0] < 1) {
    xt.clear();
    for (double t = std::ceil(x0); t <= x1; ++t) xt.push_back(t);
  }
  std::vector<double> yt;
  if (panel.log_y) {
    for (double t = std::floor(ys.lo); t <= std::ceil(ys.hi) || yt.size() < 2; ++t) yt.push_back(t);
  } else {
    yt = nice_ticks(ys.lo, ys.hi, 6);
  }
  const Axes axes{x + 64, y + 30, w - 64 - 14, h - 30 - 46, x0, x1, yt.front(), yt.back()};

  canvas.text({x + w / 2, y + 18}, panel.title, {14, palette::black, Anchor::Middle, true});
  for (double t : yt) {
    const Point p = axes.at(axes.x0, t);
    canvas.polyline({p, {axes.left + axes.width, p.y}}, palette::light_grey, 1);
    const std::string label = panel.log_y ? tick_label(std::pow(10, t), 1e-9)
                                          : tick_label(t, yt.size() > 1 ? yt[1] - yt[0] : 1);
    canvas.text({axes.left - 6, p.y + 4}, label, small(Anchor::End));
  }
  for (double t : xt) {
    const Point p = axes.at(t, axes.y0);
    canvas.polyline({{p.x, axes.top}, p}, palette::light_grey, 1);
    canvas.text({p.x, p.y + 16}, tick_label(t, xt.size() > 1 ? xt[1] - xt[0] : 1), small());
  }
  canvas.rect_outline(axes.left, axes.top, axes.width, axes.height, palette::grey, 1);
  canvas.text({axes.left + axes.width / 2, y + h - 8}, panel.x_label,
              {12, palette::black, Anchor::Middle});
  canvas.text({x + 16, axes.top + axes.height / 2}, panel.y_label,
              {12, palette::black, Anchor::Middle, false, 90});

  for (std::size_t m = 0; m < panel.markers.size(); ++m) {
    const Marker& mk = panel.markers[m];
    const Point top = axes.at(mk.x, axes.y1);
    canvas.polyline({top, {top.x, axes.top + axes.height}}, mk.color, 1.5, true);
    // Labels of neighbouring markers take turns in height, so they do not overprint.
    // Right of the line, or left of it in the panel's right third.
    const bool right = top.x < axes.left + axes.width * 2 / 3;
    canvas.text({top.x + (right ? 4 : -4), axes.top + 12 + 13.0 * static_cast<double>(m % 2)},
                mk.label, {10, mk.color, right ? Anchor::Start : Anchor::End});
  }
  for (const Series& s : panel.series) {
    std::vector<Point> run;
    const auto flush = [&] {
      if (run.size() > 1) canvas.polyline(run, s.color, 2.2, s.dashed);
      run.clear();
    };
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!finite(s.y[i])) {
        flush();
        continue;
      }
      run.push_back(axes.at(s.x[i], s.y[i]));
      if (s.dots || s.x.size() == 1) canvas.circle(run.back(), 3, s.color);
    }
    flush();
  }
  draw_legend(canvas, panel, axes);
}

namespace {
constexpr double kCell = 56, kNameSize = 13;
double widest_name(const HeatMap& map) {
  double w = 0;
  for (const std::string& n : map.names) w = std::max(w, text_width(n, kNameSize));
  return w;
}
}  // namespace

void heat_map_size(const HeatMap& map, int& width, int& height) {
  const double n = static_cast<double>(map.names.size()), names = widest_name(map);
  width = static_cast<int>(std::ceil(40 + names + 12 + n * kCell + 24 + 120));
  // Column names hang below the cells at 45 degrees.
  height = static_cast<int>(std::ceil(50 + n * kCell + 12 + names * 0.71 + 44));
}

void draw_heat_map(Canvas& canvas, const HeatMap& map) {
  const std::size_t n = map.names.size();
  KILN_CHECK(n > 0 && map.counts.size() == n * n, "draw_heat_map: ", n, " names and ",
             map.counts.size(), " counts");
  int width = 0, height = 0;
  heat_map_size(map, width, height);
  const double left = 40 + widest_name(map) + 12, top = 50;
  canvas.text({width / 2.0, 26}, map.title, {15, palette::black, Anchor::Middle, true});
  const double count_size = n <= 12 ? 13 : n <= 24 ? 10 : 8;
  for (std::size_t r = 0; r < n; ++r) {
    std::int64_t total = 0;
    for (std::size_t c = 0; c < n; ++c) total += map.counts[r * n + c];
    for (std::size_t c = 0; c < n; ++c) {
      const std::int64_t count = map.counts[r * n + c];
      const double share = total > 0 ? static_cast<double>(count) / static_cast<double>(total) : 0;
      const Color fill{1 - share * (1 - palette::blue.r), 1 - share * (1 - palette::blue.g),
                       1 - share * (1 - palette::blue.b)};
      const double cx = left + static_cast<double>(c) * kCell,
                   cy = top + static_cast<double>(r) * kCell;
      canvas.rect(cx, cy, kCell, kCell, fill);
      canvas.text(
          {cx + kCell / 2, cy + kCell / 2 + count_size * 0.35}, std::to_string(count),
          {count_size, share > 0.5 ? Color{1, 1, 1} : palette::black, Anchor::Middle, r == c});
    }
    const double ry = top + (static_cast<double>(r) + 0.5) * kCell + kNameSize * 0.35;
    canvas.text({left - 8, ry}, map.names[r], {kNameSize, palette::black, Anchor::End});
    if (r < map.row_notes.size()) {
      canvas.text({left + static_cast<double>(n) * kCell + 24, ry}, map.row_notes[r],
                  {kNameSize, palette::black, Anchor::Start});
    }
  }
  const double bottom = top + static_cast<double>(n) * kCell;
  canvas.rect_outline(left, top, static_cast<double>(n) * kCell, static_cast<double>(n) * kCell,
                      palette::grey, 1);
  for (std::size_t c = 0; c < n; ++c) {
    canvas.text({left + (static_cast<double>(c) + 0.5) * kCell + 4, bottom + 14}, map.names[c],
                {kNameSize, palette::black, Anchor::End, false, 45});
  }
  canvas.text({left + static_cast<double>(n) * kCell + 24, top - 10}, map.notes_title,
              {kNameSize, palette::black, Anchor::Start, true});
  canvas.text({left + static_cast<double>(n) * kCell / 2, height - 12.0}, map.column_label,
              {13, palette::black, Anchor::Middle});
  canvas.text({16, top + static_cast<double>(n) * kCell / 2}, map.row_label,
              {13, palette::black, Anchor::Middle, false, 90});
}

}  // namespace kiln::plot
