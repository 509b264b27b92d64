// cifar10 end to end on CIFAR-10 binary files the test writes: train, resume, evaluate, predict,
// through the built binary. Random pixels: these runs check the plumbing, not learning.
// Kept to a few VGG16 steps each (batch 8, 32 training images) so the suite stays fast.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "apps/cifar10/history.h"
#include "apps/plot/canvas.h"
#include "kernels/device_memory.h"
#include "tests/apps/app_runner.h"
#include "weights/hdf5.h"

namespace kiln::test {
namespace {

std::int64_t optimizer_steps(const std::string& checkpoint) {
  const H5File file = H5File::open_read(checkpoint);
  return file.root().group("kiln_training/optimizer").read_int64_attribute("step_count");
}

std::string text_of(const std::string& path) {
  const std::vector<std::uint8_t> b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string f; std::getline(in, f, ',');) fields.push_back(f);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

TEST(Cifar10App, TrainsResumesEvaluatesAndPredictsOnCifarFiles) {
  TempFolder dir;
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(32, 1));
  write_bytes(dir.file("data/test_batch.bin"), cifar_records(16, 2));

  AppRun run = run_cifar10(dir, "train --data data --weights none --epochs 2 --batch-size 8");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_CONTAINS(run.out, "16 validation (the test split)");
  // --device auto, the default, says where it computes in the first line.
  const std::string first_line = lines_of(run.out).at(0);
  if (kernels::cuda::available()) {
    EXPECT_EQ(first_line.rfind("device: cuda (", 0), 0u) << first_line;
  } else {
    EXPECT_EQ(first_line, std::string("device: cpu (--device auto: ") +
                              kernels::cuda::unavailable_reason() + ")");
  }
  EXPECT_TRUE(std::filesystem::exists(dir.file("models/best.h5")));
  ASSERT_TRUE(std::filesystem::exists(dir.file("models/last.h5")));
  const std::vector<std::string> two = lines_of(text_of(dir.file("models/history.csv")));
  ASSERT_EQ(two.size(), 3u);
  EXPECT_EQ(two[0], app::kHistoryHeader);
  EXPECT_EQ(two[1].substr(0, 2), "1,");
  EXPECT_EQ(two[2].substr(0, 2), "2,");
  EXPECT_EQ(optimizer_steps(dir.file("models/last.h5")), 2 * 4);  // 32 images / batch 8

  // --resume alone restores the run's options (data, weights, batch size) from last.h5.
  run = run_cifar10(dir, "train --resume --epochs 3");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "resumed from models/last.h5 at epoch 2 (optimiser step 8");
  EXPECT_CONTAINS(run.out, "epoch 3/3");
  const std::vector<std::string> three = lines_of(text_of(dir.file("models/history.csv")));
  ASSERT_EQ(three.size(), 4u);
  EXPECT_EQ(three[1], two[1]);
  EXPECT_EQ(three[2], two[2]);
  EXPECT_EQ(three[3].substr(0, 2), "3,");
  EXPECT_EQ(optimizer_steps(dir.file("models/last.h5")), 3 * 4);
  // The training picture, redrawn after every epoch of the resumed run too.
  const std::string training = text_of(dir.file("models/training.svg"));
  EXPECT_NE(training.find("|  3 epochs"), std::string::npos);
  EXPECT_EQ(std::filesystem::exists(dir.file("models/training.png")), plot::png_supported());

  // best.h5 holds the epoch with the lowest val_loss (save_best_only).
  const std::vector<app::EpochRecord> rows =
      app::parse_history(text_of(dir.file("models/history.csv")), "history.csv");
  std::int64_t best = 0;
  for (const app::EpochRecord& r : rows) {
    if (best == 0 || r.val_loss < rows[static_cast<std::size_t>(best - 1)].val_loss) best = r.epoch;
  }
  {
    const H5File file = H5File::open_read(dir.file("models/best.h5"));
    EXPECT_EQ(file.root().read_string_attribute("kiln_epoch"), std::to_string(best));
    EXPECT_EQ(file.root().read_string_array_attribute("kiln_class_names").at(3), "cat");
  }

  // Nothing left to do: exit 0, files untouched.
  run = run_cifar10(dir, "train --resume --epochs 3");
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "nothing to do");

  run = run_cifar10(dir, "evaluate --model models/best.h5 --data data");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "test split");
  EXPECT_CONTAINS(run.out, "loss ");
  EXPECT_CONTAINS(run.out, "accuracy ");
  EXPECT_CONTAINS(run.out, "per-class accuracy");
  EXPECT_CONTAINS(run.out, "confusion matrix");
  EXPECT_CONTAINS(run.out, "airplane");
  EXPECT_CONTAINS(run.out, "wrote models/confusion.svg");
  EXPECT_NE(text_of(dir.file("models/confusion.svg")).find(">airplane</text>"), std::string::npos);

  write_color_png(dir.file("photo.png"), 40, 48, 200, 30, 30, 3);  // resized to 32x32
  run = run_cifar10(dir,
                    "predict --model models/best.h5 data/test_batch.bin photo.png "
                    "--out preds.csv");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "photo.png:");
  const std::vector<std::string> csv = lines_of(text_of(dir.file("preds.csv")));
  ASSERT_EQ(csv.size(), 1u + 16u + 1u);
  EXPECT_EQ(csv[0], "source,index,label,pred,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9");
  for (std::size_t i = 1; i < csv.size(); ++i) {
    const std::vector<std::string> f = split_csv(csv[i]);
    ASSERT_EQ(f.size(), 14u) << csv[i];
    const bool from_bin = i <= 16;
    EXPECT_EQ(f[0], from_bin ? "data/test_batch.bin" : "photo.png");
    EXPECT_EQ(f[1], from_bin ? std::to_string(i - 1) : "0");
    EXPECT_EQ(f[2], from_bin ? std::to_string((i - 1) % 10) : "");
    double sum = 0, top = -1;
    int argmax = -1;
    for (int k = 0; k < 10; ++k) {
      const double p = std::atof(f[4 + static_cast<std::size_t>(k)].c_str());
      EXPECT_GE(p, 0.0);
      sum += p;
      if (p > top) top = p, argmax = k;
    }
    EXPECT_NEAR(sum, 1.0, 1e-4) << csv[i];
    EXPECT_EQ(f[3], std::to_string(argmax));
  }
}

TEST(Cifar10App, TrainsAndPredictsOnAnImageFolder) {
  TempFolder dir;
  const std::vector<std::string> classes{"apple", "grass", "sky"};
  const std::uint8_t colours[3][3] = {{200, 30, 30}, {30, 180, 40}, {40, 90, 220}};
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < 4; ++i) {
      write_color_png(dir.file("pics/" + classes[k] + "/" + std::to_string(i) + ".png"), 36, 36,
                      colours[k][0], colours[k][1], colours[k][2], 10 * k + i);
    }
  }
  AppRun run = run_cifar10(dir,
                           "train --data pics --weights none --epochs 2 --batch-size 8 "
                           "--val-split 0.25 --out-dir out --no-augment");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "9 train, 3 validation (held out of train), 0 test; 3 classes");
  ASSERT_EQ(lines_of(text_of(dir.file("out/history.csv"))).size(), 3u);
  {
    const H5File file = H5File::open_read(dir.file("out/best.h5"));
    EXPECT_EQ(file.root().read_string_array_attribute("kiln_class_names"), classes);
  }

  run = run_cifar10(dir, "evaluate --model out/best.h5 --data pics");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "val split");
  EXPECT_CONTAINS(run.out, "3 images");  // the same 25% train held out
  EXPECT_CONTAINS(run.out, "grass");

  run = run_cifar10(
      dir, "predict --model out/best.h5 pics/sky/0.png --out p.csv --top 2 --sheet sheet.svg");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_CONTAINS(run.out, "wrote the contact sheet sheet.svg");
  EXPECT_NE(text_of(dir.file("sheet.svg")).find(">0.png</text>"), std::string::npos);
  EXPECT_CONTAINS(run.out, "pics/sky/0.png:");
  const std::vector<std::string> csv = lines_of(text_of(dir.file("p.csv")));
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[0], "source,index,label,pred,p0,p1,p2");
  const std::vector<std::string> f = split_csv(csv[1]);
  ASSERT_EQ(f.size(), 7u);
  EXPECT_NEAR(std::atof(f[4].c_str()) + std::atof(f[5].c_str()) + std::atof(f[6].c_str()), 1.0,
              1e-4);
}

}  // namespace
}  // namespace kiln::test
