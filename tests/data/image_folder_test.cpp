#include "data/image_folder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "base/error.h"
#include "data/resize.h"
#include "test_files.h"

namespace kiln {
namespace {

using test::error_message;
using test::TempFolder;

// (h, w, channels) with pixel (y, x, ch) = base + 10 * x + 3 * y + 20 * ch.
std::vector<std::uint8_t> pattern(int h, int w, int channels, int base) {
  std::vector<std::uint8_t> p;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int ch = 0; ch < channels; ++ch)
        p.push_back(static_cast<std::uint8_t>(base + 10 * x + 3 * y + 20 * ch));
    }
  }
  return p;
}

// A solid RGB colour: JPEG keeps flat colours within a level or two.
std::vector<std::uint8_t> solid(int h, int w, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  std::vector<std::uint8_t> p;
  for (int i = 0; i < h * w; ++i) p.insert(p.end(), {r, g, b});
  return p;
}

TEST(ImageFolder, ClassesLabelsAndPixelsFromPngAndJpeg) {
  TempFolder dir;
  test::write_png(dir.file("dog/b.png"), pattern(4, 4, 3, 5), 4, 4, 3);
  test::write_jpeg(dir.file("dog/a.JPG"), solid(4, 4, 200, 100, 50), 4, 4, 3);
  test::write_png(dir.file("cat/z.png"), pattern(4, 4, 1, 7), 4, 4, 1);  // gray
  std::vector<std::uint8_t> rgba = pattern(4, 4, 4, 1);
  for (std::size_t i = 3; i < rgba.size(); i += 4) rgba[i] = 0;  // fully transparent
  test::write_png(dir.file("cat/sub/y.png"), rgba, 4, 4, 4);     // found recursively
  test::write_text(dir.file("cat/notes.txt"), "not an image, skipped");
  test::write_text(dir.file(".hidden/x.png"), "hidden folders are not classes");
  test::write_text(dir.file("cat/.DS_Store"), "skipped");

  const ImageDataset ds = read_image_folder(dir.str(), 4);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(ds.n, 4);
  EXPECT_EQ(ds.h, 4);
  EXPECT_EQ(ds.w, 4);
  EXPECT_EQ(ds.c, 3);
  // Sorted paths: cat/sub/y.png < cat/z.png ("s" < "z"); dog/a.JPG < dog/b.png.
  EXPECT_EQ(ds.labels, (std::vector<std::int32_t>{0, 0, 1, 1}));
  const std::vector<std::uint8_t> rgb_of_rgba = [&] {
    std::vector<std::uint8_t> v;
    for (std::size_t i = 0; i < rgba.size(); i += 4)
      v.insert(v.end(), {rgba[i], rgba[i + 1], rgba[i + 2]});
    return v;
  }();
  const std::vector<std::uint8_t> gray = pattern(4, 4, 1, 7);
  for (int p = 0; p < 16; ++p) {
    for (int ch = 0; ch < 3; ++ch) {
      EXPECT_EQ(ds.image(0)[p * 3 + ch], rgb_of_rgba[p * 3 + ch]) << "alpha dropped, RGB kept";
      EXPECT_EQ(ds.image(1)[p * 3 + ch], gray[p]) << "gray replicated";
      EXPECT_EQ(ds.image(3)[p * 3 + ch], pattern(4, 4, 3, 5)[p * 3 + ch]) << "PNG is lossless";
    }
    EXPECT_NEAR(ds.image(2)[p * 3 + 0], 200, 3);  // JPEG: close, not exact
    EXPECT_NEAR(ds.image(2)[p * 3 + 1], 100, 3);
    EXPECT_NEAR(ds.image(2)[p * 3 + 2], 50, 3);
  }
}

TEST(ImageFolder, ResizesEveryImageToTheTargetSize) {
  TempFolder dir;
  test::write_png(dir.file("a/big.png"), pattern(8, 8, 3, 0), 8, 8, 3);
  test::write_jpeg(dir.file("b/small.jpg"), solid(2, 3, 10, 20, 30), 2, 3, 3);
  const ImageDataset ds = read_image_folder(dir.str(), 4);
  ASSERT_EQ(ds.n, 2);
  EXPECT_EQ(ds.images.size(), 2u * 4 * 4 * 3);
  // Halving with half-pixel centres averages pixel pairs: 10x + 3y + 20ch over x in {2j, 2j+1},
  // y in {2i, 2i+1} gives 20j + 5 + 6i + 1.5 + 20ch.
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int ch = 0; ch < 3; ++ch) {
        const double want = 20 * j + 5 + 6 * i + 1.5 + 20 * ch;
        EXPECT_NEAR(ds.image(0)[(i * 4 + j) * 3 + ch], want, 0.5 + 1e-9) << i << "," << j;
      }
    }
  }
  for (int p = 0; p < 16; ++p) EXPECT_NEAR(ds.image(1)[p * 3 + 2], 30, 3);
}

TEST(Resize, BilinearHalfPixelCentres) {
  // 1x2 -> 1x4: sample positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  const std::uint8_t src[2] = {0, 200};
  std::uint8_t dst[4];
  resize_bilinear(src, 1, 2, 1, dst, 1, 4);
  EXPECT_EQ(std::vector<int>(dst, dst + 4), (std::vector<int>{0, 50, 150, 200}));
  // Same size: an exact copy.
  const std::vector<std::uint8_t> img = pattern(3, 5, 3, 1);
  std::vector<std::uint8_t> out(img.size());
  resize_bilinear(img.data(), 3, 5, 3, out.data(), 3, 5);
  EXPECT_EQ(out, img);
}

TEST(ImageFolder, DecodeImageFileForPredict) {
  TempFolder dir;
  test::write_png(dir.file("photo.png"), pattern(6, 10, 3, 0), 6, 10, 3);
  const RgbImage img = decode_image_file(dir.file("photo.png"), 32);
  EXPECT_EQ(img.h, 32);
  EXPECT_EQ(img.w, 32);
  EXPECT_EQ(img.pixels.size(), 32u * 32 * 3);
  EXPECT_EQ(img.pixels[0], 0);  // the top-left corner clamps to the source's corner
  const RgbImage native = decode_image(dir.file("photo.png"));
  EXPECT_EQ(native.h, 6);
  EXPECT_EQ(native.w, 10);
  EXPECT_EQ(native.pixels, pattern(6, 10, 3, 0));
}

TEST(ImageFolder, EmptyFolderOrClassWithoutImagesIsAnError) {
  TempFolder dir;
  EXPECT_CONTAINS(error_message([&] { read_image_folder(dir.str(), 32); }), "no class subfolders");
  EXPECT_CONTAINS(error_message([&] { read_image_folder(dir.str() + "/missing", 32); }),
                  dir.str() + "/missing");
  test::write_png(dir.file("cat/a.png"), pattern(2, 2, 3, 0), 2, 2, 3);
  test::write_text(dir.file("dog/readme.txt"), "no images here");
  const std::string m = error_message([&] { read_image_folder(dir.str(), 32); });
  EXPECT_CONTAINS(m, "dog");
  EXPECT_CONTAINS(m, "holds no .jpg, .jpeg or .png images");
}

TEST(ImageFolder, NonImageOrCorruptFileIsAnErrorNamingIt) {
  TempFolder dir;
  test::write_png(dir.file("cat/a.png"), pattern(2, 2, 3, 0), 2, 2, 3);
  test::write_text(dir.file("cat/fake.jpg"), "this is text, not a JPEG");
  std::string m = error_message([&] { read_image_folder(dir.str(), 8); });
  EXPECT_CONTAINS(m, dir.str() + "/cat/fake.jpg");
  EXPECT_CONTAINS(m, "neither a JPEG nor a PNG");
  std::filesystem::remove(dir.file("cat/fake.jpg"));

  // A JPEG cut short: libjpeg would fill the missing rows with gray; we refuse it.
  test::write_jpeg(dir.file("cat/cut.jpg"), pattern(64, 64, 3, 0), 64, 64, 3);
  std::vector<std::uint8_t> bytes = test::read_bytes(dir.file("cat/cut.jpg"));
  bytes.resize(bytes.size() / 2);
  test::write_bytes(dir.file("cat/cut.jpg"), bytes);
  m = error_message([&] { read_image_folder(dir.str(), 8); });
  EXPECT_CONTAINS(m, "cut.jpg");
  EXPECT_CONTAINS(m, "corrupt JPEG");
  std::filesystem::remove(dir.file("cat/cut.jpg"));

  // A PNG with a damaged chunk.
  test::write_png(dir.file("cat/bad.png"), pattern(16, 16, 3, 0), 16, 16, 3);
  bytes = test::read_bytes(dir.file("cat/bad.png"));
  for (std::size_t i = 40; i < 60; ++i) bytes[i] ^= 0xff;
  test::write_bytes(dir.file("cat/bad.png"), bytes);
  m = error_message([&] { read_image_folder(dir.str(), 8); });
  EXPECT_CONTAINS(m, "bad.png");
  EXPECT_CONTAINS(m, "corrupt PNG");
}

TEST(ImageFolder, DirectoryGivenAsAnImageIsAnError) {
  // Regression: a directory opened as a file once reported a nonsense size and threw bad_alloc.
  TempFolder dir;
  EXPECT_CONTAINS(error_message([&] { decode_image_file(dir.str(), 32); }),
                  dir.str() + " is a directory");
}

// The real CIFAR-10 JPEG tree, when ../shared/data/cifar10-train-jpeg.tar.gz has been unpacked
// to /tmp/train (see ../shared/data/README.md): read a few images of two classes.
TEST(ImageFolder, RealCifarJpegTreeWhenUnpacked) {
  const std::filesystem::path tree = "/tmp/train";
  if (!std::filesystem::is_directory(tree / "airplane") ||
      !std::filesystem::is_directory(tree / "truck")) {
    GTEST_SKIP()
        << "/tmp/train not unpacked (tar -xzf ../shared/data/cifar10-train-jpeg.tar.gz -C /tmp)";
  }
  TempFolder dir;
  for (const char* cls : {"airplane", "truck"}) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(tree / cls)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    files.resize(std::min<std::size_t>(files.size(), 20));
    for (const auto& f : files) {
      std::filesystem::copy_file(f, dir.file(std::string(cls) + "/" + f.filename().string()));
    }
  }
  const ImageDataset ds = read_image_folder(dir.str(), 32);
  EXPECT_EQ(ds.n, 40);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"airplane", "truck"}));
  EXPECT_EQ(ds.labels.front(), 0);
  EXPECT_EQ(ds.labels.back(), 1);
  // Real photos are not flat: every image has some spread of values.
  for (std::int64_t i = 0; i < ds.n; ++i) {
    const auto [lo, hi] = std::minmax_element(ds.image(i), ds.image(i) + ds.image_size());
    EXPECT_GT(*hi - *lo, 20) << "image " << i;
  }
}

}  // namespace
}  // namespace kiln
