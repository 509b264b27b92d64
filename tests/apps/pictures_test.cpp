// cifar10's pictures (apps/cifar10/pictures.h, apps/plot/): drawn from known inputs and checked
// in the SVG's text (one polyline point per epoch, the class names, the marks) and as a PNG that
// libpng decodes back at the size asked for; history files of both Kiln's and Keras' columns.
#include "apps/cifar10/pictures.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "apps/cifar10/history.h"
#include "apps/plot/chart.h"
#include "data/image_decode.h"
#include "tests/data/test_files.h"
#include "tests/support/error_of.h"

namespace kiln::app {
namespace {

using test::error_of;
using test::TempFolder;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<EpochRecord> rows(int epochs, bool lr_drops = false) {
  std::vector<EpochRecord> r;
  for (int e = 1; e <= epochs; ++e) {
    // val_loss lowest at epoch 3 (when there are 3 or more epochs).
    const double val = 1.0 + 0.1 * std::abs(e - 3);
    r.push_back({e, 2.0 / e, 0.1 * e, val, 0.5, lr_drops && e > 2 ? 1e-4 : 1e-3, 10, 100.0 + e});
  }
  return r;
}

// The point counts of the SVG's data lines (stroke-width 2.2: the series, not grid or frame).
std::vector<std::size_t> series_point_counts(const std::string& svg) {
  std::vector<std::size_t> counts;
  const std::regex line("<polyline[^>]*stroke-width=\"2.2\"[^>]*points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), line); it != std::sregex_iterator();
       ++it) {
    const std::string points = (*it)[1];
    counts.push_back(static_cast<std::size_t>(std::count(points.begin(), points.end(), ',')));
  }
  return counts;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(TrainingPicture, HasOnePointPerEpochAndMarksTheBestEpochAndTheStop) {
  TrainingFacts facts{"CIFAR-10 <binary> & more", "head only", "cpu", 5};
  int w = 0, h = 0;
  const std::string svg = plot::render_svg(1000, 500, training_picture(rows(5), facts, w, h));
  // Loss and accuracy, train and validation: four lines of five points.
  EXPECT_EQ(series_point_counts(svg), (std::vector<std::size_t>{5, 5, 5, 5}));
  EXPECT_EQ(occurrences(svg, ">best: epoch 3</text>"), 2u);  // in both panels
  EXPECT_EQ(occurrences(svg, ">early stop: epoch 5</text>"), 2u);
  EXPECT_NE(svg.find(">CIFAR-10 &lt;binary&gt; &amp; more</text>"), std::string::npos);
  EXPECT_NE(svg.find("103 images/s (median)"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("Learning rate"), std::string::npos);  // constant: no third panel
  EXPECT_EQ(w, 2 * 520 + 20);
}

TEST(TrainingPicture, DrawsTheLearningRateWhenItChanges) {
  int w = 0, h = 0;
  const std::string svg = plot::render_svg(1000, 500, training_picture(rows(6, true), {}, w, h));
  EXPECT_NE(svg.find(">Learning rate</text>"), std::string::npos);
  EXPECT_EQ(series_point_counts(svg).size(), 5u);
  EXPECT_NE(svg.find(">0.001</text>"), std::string::npos);  // decades on a log scale
  EXPECT_NE(svg.find(">0.0001</text>"), std::string::npos);
  EXPECT_EQ(w, 3 * 520 + 20);
}

TEST(TrainingPicture, OneEpochIsDotsNotLines) {
  int w = 0, h = 0;
  const std::string svg = plot::render_svg(1000, 500, training_picture(rows(1), {}, w, h));
  EXPECT_TRUE(series_point_counts(svg).empty());
  EXPECT_EQ(occurrences(svg, "<circle"), 4u);
  EXPECT_NE(svg.find(">best: epoch 1</text>"), std::string::npos);
  EXPECT_NE(svg.find("|  1 epoch  |"), std::string::npos) << svg;
}

TEST(TrainingPicture, NoEpochsIsAnError) {
  int w = 0, h = 0;
  EXPECT_EQ(error_of([&] { training_picture({}, {}, w, h); }), "no epochs to draw");
}

TEST(TrainingPicture, WritesSvgAndPngOfTheSizeItAsks) {
  TempFolder dir;
  int w = 0, h = 0;
  training_picture(rows(30), {}, w, h);
  const std::vector<std::string> written =
      write_training_pictures(dir.file("out/training"), rows(30), {});
  ASSERT_GE(written.size(), 1u);
  EXPECT_EQ(written[0], dir.file("out/training.svg"));
  const std::string svg = read_text(written[0]);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) + "\""),
            std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  if (!plot::png_supported()) GTEST_SKIP() << "this build has no Cairo: SVG only, PNG not checked";
  ASSERT_EQ(written.size(), 2u);
  const RgbImage png = decode_image(written[1]);  // libpng reads it whole
  EXPECT_EQ(png.w, w);
  EXPECT_EQ(png.h, h);
  // Not a blank page: the lines are drawn (some pixel is far from white).
  std::size_t dark = 0;
  for (std::uint8_t v : png.pixels) dark += v < 128;
  EXPECT_GT(dark, 1000u);
}

TEST(ConfusionPicture, NamesEveryClassOnBothAxesWithItsCountsAndAccuracy) {
  Evaluation e;
  e.classes = 3;
  e.n = 10;
  e.confusion = {3, 1, 0,  //
                 0, 4, 0,  //
                 1, 0, 1};
  const std::vector<std::string> names{"airplane", "automobile", "bird"};
  int w = 0, h = 0;
  const std::string svg = plot::render_svg(600, 600, confusion_picture(e, names, "title", w, h));
  for (const std::string& name : names) EXPECT_EQ(occurrences(svg, ">" + name + "<"), 2u) << name;
  EXPECT_NE(svg.find(">0.750 (4)</text>"), std::string::npos);  // airplane: 3 of 4
  EXPECT_NE(svg.find(">1.000 (4)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0.500 (2)</text>"), std::string::npos);
  EXPECT_EQ(occurrences(svg, ">4</text>"), 1u);
  // Row-normalised colour: the full row of automobile is the darkest cell, pure blue.
  EXPECT_NE(svg.find("fill=\"#0072b2\""), std::string::npos);
  const std::string e_bad = error_of([&] { confusion_picture(e, {"a", "b"}, "t", w, h); });
  EXPECT_EQ(e_bad, "confusion picture: 2 class names for 3 classes");
}

TEST(ContactSheet, ShowsEachImageWithItsTopClassesAndMarksAWrongOne) {
  const std::vector<std::uint8_t> red(8 * 8 * 3, 0), blue(8 * 8 * 3, 200);
  std::vector<SheetImage> images = {
      {red.data(), "photo.png", {{"cat", 0.8}, {"dog", 0.15}, {"bird", 0.05}}, ""},
      {blue.data(), "test_batch.bin #7", {{"ship", 0.6}, {"truck", 0.3}, {"cat", 0.1}}, "truck"}};
  int w = 0, h = 0;
  std::string svg = plot::render_svg(900, 400, contact_sheet(images, 8, "sheet", w, h));
  EXPECT_NE(svg.find(">photo.png</text>"), std::string::npos);
  EXPECT_NE(svg.find("font-weight=\"bold\">cat 0.800</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">dog 0.150</text>"), std::string::npos);
  EXPECT_NE(svg.find(">true: truck</text>"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"#cc1a1a\" text-anchor=\"middle\" font-weight=\"bold\">ship 0.600"),
            std::string::npos)
      << "the wrong top class is not red";
  EXPECT_EQ(occurrences(svg, "<image "), plot::png_supported() ? 2u : 0u);
  EXPECT_EQ(w, 2 * 180 + 20);

  // More than a sheet holds: the first kSheetMaxImages, and the title says so.
  images.resize(kSheetMaxImages + 5, images[0]);
  svg = plot::render_svg(900, 400, contact_sheet(images, 8, "sheet", w, h));
  EXPECT_NE(svg.find("(the first 100 of 105)"), std::string::npos);
  EXPECT_EQ(occurrences(svg, ">photo.png</text>"), kSheetMaxImages - 1);  // one is the .bin's
  EXPECT_EQ(error_of([&] { contact_sheet({}, 8, "t", w, h); }), "no images for the contact sheet");
}

TEST(Pictures, ANameWithoutPngOrSvgIsRefusedAndAnUnwritableFolderNamed) {
  TempFolder dir;
  const plot::Drawing nothing = [](plot::Canvas&) {};
  EXPECT_EQ(error_of([&] { plot::write_picture(dir.file("x.jpg"), 10, 10, nothing); }),
            dir.file("x.jpg") + ": a picture's name must end in .png or .svg");
  const std::string blocked = dir.file("file");
  std::ofstream(blocked) << "not a folder";
  const std::string e = error_of([&] { plot::write_picture(blocked + "/t.svg", 10, 10, nothing); });
  EXPECT_NE(e.find(blocked + "/t.svg"), std::string::npos) << e;
}

TEST(NiceTicks, AreRoundAndCoverTheRange) {
  EXPECT_EQ(plot::nice_ticks(0.13, 0.92, 6), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(plot::nice_ticks(1, 100, 8).back(), 100);
  EXPECT_EQ(plot::tick_label(0.25, 0.05), "0.25");
  EXPECT_EQ(plot::tick_label(20, 20), "20");
  const std::vector<double> one = plot::nice_ticks(2, 2, 5);  // a single value gets a range
  EXPECT_LT(one.front(), 2);
  EXPECT_GT(one.back(), 2);
}

TEST(HistoryColumns, ReadsKerasCsvLoggerColumnsInItsOrderFromEpochZero) {
  const std::vector<EpochRecord> r = parse_history_columns(
      "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.41,1.62,0.52,1.33\n1,0.58,1.17,0.61,1.1\n",
      "log.csv");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].epoch, 1);  // CSVLogger counts from 0
  EXPECT_EQ(r[1].epoch, 2);
  EXPECT_DOUBLE_EQ(r[0].loss, 1.62);
  EXPECT_DOUBLE_EQ(r[0].accuracy, 0.41);
  EXPECT_DOUBLE_EQ(r[1].val_loss, 1.1);
  EXPECT_TRUE(std::isnan(r[0].learning_rate));
}

TEST(HistoryColumns, TakesABomAndNaCellsAsMissing) {
  const std::vector<EpochRecord> r = parse_history_columns(
      "\xEF\xBB\xBF"
      "epoch,loss,val_loss\r\n0,1.5,NA\r\n1,1.2,\r\n",
      "x.csv");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_DOUBLE_EQ(r[1].loss, 1.2);
  EXPECT_TRUE(std::isnan(r[0].val_loss));
  EXPECT_TRUE(std::isnan(r[1].val_loss));
}

TEST(HistoryColumns, ReadsKilnsOwnFile) {
  const std::vector<EpochRecord> r = rows(3);
  EXPECT_EQ(parse_history_columns(format_history(r), "h.csv").size(), 3u);
  EXPECT_DOUBLE_EQ(parse_history_columns(format_history(r), "h.csv")[2].images_per_second, 103);
}

TEST(HistoryColumns, BadFilesAreNamedWithTheLine) {
  EXPECT_EQ(error_of([] { parse_history_columns("", "h.csv"); }),
            "h.csv: empty; expected a CSV history with a header line");
  EXPECT_EQ(error_of([] { parse_history_columns("a,b\n1,2\n", "h.csv"); }),
            "h.csv: line 1: the header 'a,b' names no epoch column and no loss or accuracy column");
  EXPECT_EQ(error_of([] { parse_history_columns("epoch,loss\n1,x\n", "h.csv"); }),
            "h.csv: line 2: 'x' is not a number");
  EXPECT_EQ(error_of([] { parse_history_columns("epoch,loss\n1\n", "h.csv"); }),
            "h.csv: line 2 has 1 fields, the header names 2");
  EXPECT_EQ(error_of([] { parse_history_columns("epoch,loss\n", "h.csv"); }),
            "h.csv: no epochs after the header");
}

}  // namespace
}  // namespace kiln::app
