#include "apps/cifar10/pictures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "apps/plot/chart.h"
#include "base/error.h"

namespace kiln::app {
namespace {

using plot::palette::blue;
using plot::palette::orange;

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> write_both(const std::string& prefix, int width, int height,
                                    const plot::Drawing& draw) {
  std::vector<std::string> written{prefix + ".svg"};
  plot::write_picture(written.back(), width, height, draw);
  if (plot::png_supported()) {
    written.push_back(prefix + ".png");
    plot::write_picture(written.back(), width, height, draw);
  }
  return written;
}

}  // namespace

plot::Drawing training_picture(const std::vector<EpochRecord>& rows, const TrainingFacts& facts,
                               int& width, int& height) {
  KILN_CHECK(!rows.empty(), "no epochs to draw");
  plot::Series loss{"train loss", {}, {}, blue}, val_loss{"val loss", {}, {}, orange};
  plot::Series acc{"train accuracy", {}, {}, blue}, val_acc{"val accuracy", {}, {}, orange};
  plot::Series lr{"learning rate", {}, {}, plot::palette::purple};
  std::vector<double> speed;
  const EpochRecord* best = nullptr;
  for (const EpochRecord& r : rows) {
    const auto x = static_cast<double>(r.epoch);
    for (plot::Series* s : {&loss, &val_loss, &acc, &val_acc, &lr}) s->x.push_back(x);
    loss.y.push_back(r.loss);
    val_loss.y.push_back(r.val_loss);
    acc.y.push_back(r.accuracy);
    val_acc.y.push_back(r.val_accuracy);
    lr.y.push_back(r.learning_rate);
    speed.push_back(r.images_per_second);
    if (std::isfinite(r.val_loss) && (best == nullptr || r.val_loss < best->val_loss)) best = &r;
  }
  const bool few = rows.size() <= 30;  // dots on every epoch while they stay apart
  for (plot::Series* s : {&loss, &val_loss, &acc, &val_acc, &lr}) s->dots = few;
  const bool lr_changed = std::any_of(rows.begin(), rows.end(), [&](const EpochRecord& r) {
    return std::abs(r.learning_rate - rows.front().learning_rate) >
           1e-12 * std::abs(rows.front().learning_rate);
  });

  std::vector<plot::Marker> markers;
  if (best != nullptr) {
    markers.push_back({static_cast<double>(best->epoch),
                       "best: epoch " + std::to_string(best->epoch), plot::palette::green});
  }
  if (facts.stopped_epoch > 0) {
    markers.push_back({static_cast<double>(facts.stopped_epoch),
                       "early stop: epoch " + std::to_string(facts.stopped_epoch),
                       plot::palette::grey});
  }
  plot::Panel loss_panel{"Loss", "epoch", "categorical cross-entropy", {loss, val_loss}, markers,
                         true,   false};
  plot::Panel acc_panel{"Accuracy", "epoch", "accuracy", {acc, val_acc}, markers, true, false};
  plot::Panel lr_panel{"Learning rate", "epoch", "learning rate (log scale)", {lr}, markers, true,
                       false,           true};

  std::string title = facts.title.empty() ? "Training" : facts.title;
  std::string subtitle;
  for (const std::string& part : {facts.model, facts.device}) {
    if (!part.empty()) subtitle += (subtitle.empty() ? "" : "  |  ") + part;
  }
  const double ips = median(speed);
  if (std::isfinite(ips)) {
    subtitle += (subtitle.empty() ? "" : "  |  ") + fmt("%.0f", ips) + " images/s (median)";
  }
  subtitle += (subtitle.empty() ? "" : "  |  ") + std::to_string(rows.size()) +
              (rows.size() == 1 ? " epoch" : " epochs");
  if (best != nullptr) {
    subtitle += "  |  best val_loss " + fmt("%.4f", best->val_loss) + ", val accuracy " +
                fmt("%.4f", best->val_accuracy);
  }

  const int panels = lr_changed ? 3 : 2;
  const double panel_w = 520, panel_h = 380, top = 62;
  width = static_cast<int>(panel_w * panels + 20);
  height = static_cast<int>(top + panel_h + 10);
  return [=](plot::Canvas& c) {
    c.text({width / 2.0, 24}, title, {17, plot::palette::black, plot::Anchor::Middle, true});
    c.text({width / 2.0, 46}, subtitle, {12, plot::palette::grey, plot::Anchor::Middle});
    plot::draw_panel(c, loss_panel, 10, top, panel_w, panel_h);
    plot::draw_panel(c, acc_panel, 10 + panel_w, top, panel_w, panel_h);
    if (lr_changed) plot::draw_panel(c, lr_panel, 10 + 2 * panel_w, top, panel_w, panel_h);
  };
}

std::vector<std::string> write_training_pictures(const std::string& prefix,
                                                 const std::vector<EpochRecord>& rows,
                                                 const TrainingFacts& facts) {
  int width = 0, height = 0;
  const plot::Drawing draw = training_picture(rows, facts, width, height);
  return write_both(prefix, width, height, draw);
}

plot::Drawing confusion_picture(const Evaluation& e, const std::vector<std::string>& names,
                                const std::string& title, int& width, int& height) {
  KILN_CHECK(e.classes > 0 && static_cast<std::int64_t>(names.size()) == e.classes &&
                 static_cast<std::int64_t>(e.confusion.size()) == e.classes * e.classes,
             "confusion picture: ", names.size(), " class names for ", e.classes, " classes");
  plot::HeatMap map;
  map.title = title;
  map.row_label = "true class";
  map.column_label = "predicted class";
  map.names = names;
  map.counts = e.confusion;
  map.notes_title = "accuracy";
  for (std::int64_t k = 0; k < e.classes; ++k) {
    std::int64_t total = 0;
    for (std::int64_t p = 0; p < e.classes; ++p) total += e.confusion[k * e.classes + p];
    map.row_notes.push_back(total == 0
                                ? "-"
                                : fmt("%.3f", static_cast<double>(e.confusion[k * e.classes + k]) /
                                                  static_cast<double>(total)) +
                                      " (" + std::to_string(total) + ")");
  }
  plot::heat_map_size(map, width, height);
  return [map](plot::Canvas& c) { plot::draw_heat_map(c, map); };
}

std::vector<std::string> write_confusion_pictures(const std::string& prefix, const Evaluation& e,
                                                  const std::vector<std::string>& names,
                                                  const std::string& title) {
  int width = 0, height = 0;
  const plot::Drawing draw = confusion_picture(e, names, title, width, height);
  return write_both(prefix, width, height, draw);
}

plot::Drawing contact_sheet(const std::vector<SheetImage>& all, std::int64_t side,
                            const std::string& title, int& width, int& height) {
  KILN_CHECK(!all.empty(), "no images for the contact sheet");
  const std::vector<SheetImage> images(
      all.begin(),
      all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), kSheetMaxImages)));
  const std::size_t columns = std::min<std::size_t>(images.size(), 8);
  const std::size_t rows_of = (images.size() + columns - 1) / columns;
  std::size_t lines = 1;
  for (const SheetImage& im : images)
    lines = std::max(lines, 1 + im.top.size() + !im.truth.empty());
  const double cell_w = 180, picture = 128, line_h = 15, top = 50;
  const double cell_h = picture + 10 + line_h * static_cast<double>(lines) + 14;
  width = static_cast<int>(cell_w * static_cast<double>(columns) + 20);
  height = static_cast<int>(top + cell_h * static_cast<double>(rows_of));
  const std::string heading =
      title + (images.size() < all.size() ? "  (the first " + std::to_string(images.size()) +
                                                " of " + std::to_string(all.size()) + ")"
                                          : std::string());
  const int w = width;
  return [=](plot::Canvas& c) {
    c.text({w / 2.0, 30}, heading, {16, plot::palette::black, plot::Anchor::Middle, true});
    for (std::size_t i = 0; i < images.size(); ++i) {
      const SheetImage& im = images[i];
      const double x = 10 + cell_w * static_cast<double>(i % columns);
      const std::size_t row = i / columns;  // whole rows: the division is meant to truncate
      const double y = top + cell_h * static_cast<double>(row);
      const double ix = x + (cell_w - picture) / 2;
      c.image(ix, y, picture, picture, im.pixels, side, side);
      c.rect_outline(ix, y, picture, picture, plot::palette::light_grey, 1);
      double ty = y + picture + 18;
      std::string caption = im.caption;
      // Keep the end (the file's name), cut at whole UTF-8 characters.
      std::string rest = caption;
      while (rest.size() > 1 && plot::text_width("..." + rest, 11) > cell_w - 8) {
        std::size_t cut = 1;
        while (cut < rest.size() && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) ++cut;
        rest = rest.substr(cut);
      }
      if (rest != caption) caption = "..." + rest;
      c.text({x + cell_w / 2, ty}, caption, {11, plot::palette::grey, plot::Anchor::Middle});
      for (std::size_t t = 0; t < im.top.size(); ++t) {
        ty += line_h;
        const bool wrong = t == 0 && !im.truth.empty() && im.top[0].first != im.truth;
        c.text({x + cell_w / 2, ty}, im.top[t].first + " " + fmt("%.3f", im.top[t].second),
               {12, wrong ? plot::Color{0.8, 0.1, 0.1} : plot::palette::black, plot::Anchor::Middle,
                t == 0});
      }
      if (!im.truth.empty()) {
        c.text({x + cell_w / 2, ty + line_h}, "true: " + im.truth,
               {11, plot::palette::grey, plot::Anchor::Middle});
      }
    }
  };
}

}  // namespace kiln::app
