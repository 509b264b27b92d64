#include "data/idx.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/error.h"
#include "test_files.h"

namespace kiln {
namespace {

using test::error_message;
using test::TempFolder;

std::vector<std::uint8_t> idx_bytes(const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> b{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::vector<std::uint8_t> iota_bytes(std::size_t n, int start = 0) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(start + 3 * i);
  return v;
}

TEST(Idx, PlainAndGzippedRoundTrip) {
  TempFolder dir;
  const std::vector<std::uint8_t> data = iota_bytes(2 * 3 * 300);  // 1800 bytes, 300 > 255 dims
  const std::vector<std::uint8_t> file = idx_bytes({2, 3, 300}, data);
  test::write_bytes(dir.file("plain-idx3-ubyte"), file);
  test::write_bytes(dir.file("packed-idx3-ubyte.gz"), test::gzip_bytes(file));
  test::write_bytes(dir.file("gzipped-without-gz-suffix"), test::gzip_bytes(file));
  for (const char* name :
       {"plain-idx3-ubyte", "packed-idx3-ubyte.gz", "gzipped-without-gz-suffix"}) {
    const IdxArray a = read_idx(dir.file(name));
    EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 3, 300})) << name;
    EXPECT_EQ(a.data, data) << name;
  }
}

TEST(Idx, ConcatenatedGzipMembersAreOneStream) {
  TempFolder dir;
  const std::vector<std::uint8_t> file = idx_bytes({4}, {9, 8, 7, 6});
  const std::vector<std::uint8_t> head(file.begin(), file.begin() + 5),
      tail(file.begin() + 5, file.end());
  std::vector<std::uint8_t> gz = test::gzip_bytes(head);
  const std::vector<std::uint8_t> gz2 = test::gzip_bytes(tail);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  test::write_bytes(dir.file("two-members.gz"), gz);
  EXPECT_EQ(read_idx(dir.file("two-members.gz")).data, (std::vector<std::uint8_t>{9, 8, 7, 6}));
}

TEST(Idx, BadMagicNamesFile) {
  TempFolder dir;
  std::vector<std::uint8_t> file = idx_bytes({3}, {1, 2, 3});
  file[0] = 0x01;
  const std::string path = dir.file("bad-magic");
  test::write_bytes(path, file);
  const std::string m = error_message([&] { read_idx(path); });
  EXPECT_CONTAINS(m, path);
  EXPECT_CONTAINS(m, "bad magic bytes 01 00 08 01");
  file[0] = 0;
  file[2] = 0x0D;  // float32 IDX: valid, but not supported
  test::write_bytes(path, file);
  EXPECT_CONTAINS(error_message([&] { read_idx(path); }), "element type 0x0d");
}

TEST(Idx, TruncatedNamesFile) {
  TempFolder dir;
  const std::string path = dir.file("short-idx1-ubyte");
  test::write_bytes(path, idx_bytes({10}, {1, 2, 3, 4, 5}));
  std::string m = error_message([&] { read_idx(path); });
  EXPECT_CONTAINS(m, path);
  EXPECT_CONTAINS(m, "truncated: its header promises 10 data bytes, the file holds 5");
  test::write_bytes(path, {0, 0, 8, 3, 0, 0});  // cut inside the dims
  EXPECT_CONTAINS(error_message([&] { read_idx(path); }), "truncated");
  test::write_bytes(path, idx_bytes({2}, {1, 2, 3}));  // a byte too many
  EXPECT_CONTAINS(error_message([&] { read_idx(path); }), "1 bytes after the data");
  // The same truncation inside a (valid) gzip stream.
  test::write_bytes(path, test::gzip_bytes(idx_bytes({10}, {1, 2, 3, 4, 5})));
  EXPECT_CONTAINS(error_message([&] { read_idx(path); }), "truncated");
}

TEST(Idx, CorruptGzipNamesFile) {
  TempFolder dir;
  const std::vector<std::uint8_t> gz = test::gzip_bytes(idx_bytes({1000}, iota_bytes(1000)));
  const std::string path = dir.file("corrupt.gz");
  std::vector<std::uint8_t> bad = gz;
  for (std::size_t i = 12; i < 40 && i < bad.size() - 8; ++i) bad[i] ^= 0x5a;  // the deflate data
  test::write_bytes(path, bad);
  std::string m = error_message([&] { read_idx(path); });
  EXPECT_CONTAINS(m, path);
  EXPECT_CONTAINS(m, "corrupt gzip data");
  // A gzip file cut in half: the stream ends early.
  test::write_bytes(path, std::vector<std::uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  m = error_message([&] { read_idx(path); });
  EXPECT_CONTAINS(m, path);
  EXPECT_CONTAINS(m, "corrupt gzip data (truncated)");
  // A wrong checksum in the trailer.
  bad = gz;
  bad[bad.size() - 6] ^= 1;
  test::write_bytes(path, bad);
  EXPECT_CONTAINS(error_message([&] { read_idx(path); }),
                  "corrupt gzip data (incorrect data check)");
}

// Writes a synthetic Fashion-MNIST split: image i, pixel (y, x) = i * 40 + y * 28 + x (mod 256).
void write_mnist_split(const TempFolder& dir, const std::string& prefix, int n, bool gzipped) {
  std::vector<std::uint8_t> images, labels;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < 28 * 28; ++p) images.push_back(static_cast<std::uint8_t>(i * 40 + p));
    labels.push_back(static_cast<std::uint8_t>((i * 3) % 10));
  }
  const auto image_file = idx_bytes({static_cast<std::uint32_t>(n), 28, 28}, images);
  const auto label_file = idx_bytes({static_cast<std::uint32_t>(n)}, labels);
  const std::string suffix = gzipped ? ".gz" : "";
  test::write_bytes(dir.file(prefix + "-images-idx3-ubyte" + suffix),
                    gzipped ? test::gzip_bytes(image_file) : image_file);
  test::write_bytes(dir.file(prefix + "-labels-idx1-ubyte" + suffix),
                    gzipped ? test::gzip_bytes(label_file) : label_file);
}

TEST(FashionMnist, PadsTo32AndReplicatesToThreeChannels) {
  TempFolder dir;
  write_mnist_split(dir, "train", 3, /*gzipped=*/true);
  write_mnist_split(dir, "t10k", 2, /*gzipped=*/false);
  const DatasetSplits s = read_fashion_mnist(dir.str());
  ASSERT_EQ(s.train.n, 3);
  ASSERT_EQ(s.test.n, 2);
  EXPECT_EQ(s.train.h, 32);
  EXPECT_EQ(s.train.w, 32);
  EXPECT_EQ(s.train.c, 3);
  EXPECT_EQ(s.train.labels, (std::vector<std::int32_t>{0, 3, 6}));
  EXPECT_EQ(s.test.labels, (std::vector<std::int32_t>{0, 3}));
  EXPECT_EQ(s.train.class_names.front(), "T-shirt/top");
  EXPECT_EQ(s.train.class_names.back(), "Ankle boot");
  for (int i = 0; i < 3; ++i) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        const bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        const int want = inside ? static_cast<std::uint8_t>(i * 40 + (y - 2) * 28 + (x - 2)) : 0;
        for (int ch = 0; ch < 3; ++ch) {
          ASSERT_EQ(s.train.image(i)[(y * 32 + x) * 3 + ch], want)
              << "image " << i << " y " << y << " x " << x << " channel " << ch;
        }
      }
    }
  }
}

TEST(FashionMnist, MismatchedCountsAndMissingFilesAreErrors) {
  TempFolder dir;
  write_mnist_split(dir, "train", 3, true);
  std::string m = error_message([&] { read_fashion_mnist(dir.str()); });
  EXPECT_CONTAINS(m, "t10k-images-idx3-ubyte");  // the missing test split
  write_mnist_split(dir, "t10k", 2, false);
  test::write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({3}, {1, 2, 3}));
  m = error_message([&] { read_fashion_mnist(dir.str()); });
  EXPECT_CONTAINS(m, "2 images but 3 labels");
  EXPECT_CONTAINS(m, "t10k-labels-idx1-ubyte");
}

TEST(FashionMnist, RealDebianFilesWhenInstalled) {
  if (!std::filesystem::exists(kFashionMnistDir)) {
    GTEST_SKIP() << kFashionMnistDir << " not present (apt-get install dataset-fashion-mnist)";
  }
  const DatasetSplits s = read_fashion_mnist();
  EXPECT_EQ(s.train.n, 60000);
  EXPECT_EQ(s.test.n, 10000);
  std::vector<int> per_class(10);
  for (std::int32_t l : s.train.labels) ++per_class[static_cast<std::size_t>(l)];
  for (int count : per_class) EXPECT_EQ(count, 6000);  // Fashion-MNIST is balanced
  // The 2-pixel border is padding: zero in every image.
  for (std::int64_t i = 0; i < s.train.n; i += 997) {
    for (int x = 0; x < 32; ++x) ASSERT_EQ(s.train.image(i)[x * 3], 0);
  }
}

}  // namespace
}  // namespace kiln
