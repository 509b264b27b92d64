#include "data/cifar10.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "test_files.h"

namespace kiln {
namespace {

using test::error_message;
using test::TempFolder;

// The pixel of record r (counted across files), channel ch (0 R, 1 G, 2 B), plane position p.
std::uint8_t pixel(int r, int ch, int p) { return static_cast<std::uint8_t>(r * 7 + ch * 50 + p); }

// A batch file holding records first..first+count-1 with the given labels, in CIFAR's layout.
std::vector<std::uint8_t> batch_bytes(int first, const std::vector<std::uint8_t>& labels) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t k = 0; k < labels.size(); ++k) {
    bytes.push_back(labels[k]);
    for (int ch = 0; ch < 3; ++ch) {
      for (int p = 0; p < 1024; ++p) bytes.push_back(pixel(first + static_cast<int>(k), ch, p));
    }
  }
  return bytes;
}

TEST(Cifar10, ReadsBatchesAsNhwcWithLabelsAndMetaNames) {
  TempFolder dir;
  test::write_bytes(dir.file("data_batch_1.bin"), batch_bytes(0, {3, 0, 9}));
  test::write_bytes(dir.file("data_batch_2.bin"), batch_bytes(3, {1, 7}));
  // The official meta file ends in blank lines; CRLF and stray spaces are tolerated too.
  test::write_text(
      dir.file("batches.meta.txt"),
      "airplane\r\nautomobile\nbird\n cat \ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n\n");
  const DatasetSplits s = read_cifar10_directory(dir.str());
  const ImageDataset& train = s.train;
  ASSERT_EQ(train.n, 5);
  EXPECT_EQ(train.h, 32);
  EXPECT_EQ(train.w, 32);
  EXPECT_EQ(train.c, 3);
  EXPECT_EQ(train.labels, (std::vector<std::int32_t>{3, 0, 9, 1, 7}));
  EXPECT_EQ(train.class_names, cifar10_default_class_names());
  for (int r = 0; r < 5; ++r) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        for (int ch = 0; ch < 3; ++ch) {
          ASSERT_EQ(train.image(r)[(y * 32 + x) * 3 + ch], pixel(r, ch, y * 32 + x))
              << "record " << r << " y " << y << " x " << x << " channel " << ch;
        }
      }
    }
  }
  EXPECT_TRUE(s.test.empty());  // no test_batch.bin
  EXPECT_EQ(s.test.class_names, cifar10_default_class_names());
}

TEST(Cifar10, ReadsTestBatchAndDefaultNamesWithoutMeta) {
  TempFolder dir;
  test::write_bytes(dir.file("data_batch_3.bin"), batch_bytes(0, {2}));  // only batch 3 present
  test::write_bytes(dir.file("test_batch.bin"), batch_bytes(1, {4, 5}));
  const DatasetSplits s = read_cifar10_directory(dir.str());
  EXPECT_EQ(s.train.n, 1);
  ASSERT_EQ(s.test.n, 2);
  EXPECT_EQ(s.test.labels, (std::vector<std::int32_t>{4, 5}));
  EXPECT_EQ(s.test.image(1)[3 * 5 + 2], pixel(2, 2, 5));
  EXPECT_EQ(s.test.class_names[9], "truck");
}

TEST(Cifar10, CustomClassNamesFromMeta) {
  TempFolder dir;
  test::write_text(dir.file("meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj");  // no final newline
  EXPECT_EQ(read_cifar10_class_names(dir.file("meta.txt")),
            (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}));
  test::write_text(dir.file("short.txt"), "a\nb\n\n");
  EXPECT_CONTAINS(error_message([&] { read_cifar10_class_names(dir.file("short.txt")); }),
                  "short.txt");
}

TEST(Cifar10, TruncatedFileIsAnErrorNamingIt) {
  TempFolder dir;
  std::vector<std::uint8_t> bytes = batch_bytes(0, {1, 2});
  bytes.resize(bytes.size() - 100);
  const std::string path = dir.file("data_batch_1.bin");
  test::write_bytes(path, bytes);
  const std::string m = error_message([&] { read_cifar10_directory(dir.str()); });
  EXPECT_CONTAINS(m, path);
  EXPECT_CONTAINS(m, "truncated");
  EXPECT_CONTAINS(m, "6046 bytes is not a whole number of 3073-byte records");
}

TEST(Cifar10, WrongSizeAndEmptyFilesAreErrors) {
  TempFolder dir;
  std::vector<std::uint8_t> bytes = batch_bytes(0, {1});
  bytes.push_back(0);  // one byte too many
  test::write_bytes(dir.file("long.bin"), bytes);
  const std::string m = error_message([&] { read_cifar10_batch(dir.file("long.bin")); });
  EXPECT_CONTAINS(m, "long.bin");
  EXPECT_CONTAINS(m, "wrong size: 3074 bytes");
  test::write_bytes(dir.file("empty.bin"), {});
  EXPECT_CONTAINS(error_message([&] { read_cifar10_batch(dir.file("empty.bin")); }),
                  "empty.bin is empty");
}

TEST(Cifar10, LabelAboveNineNamesFileAndRecord) {
  TempFolder dir;
  const std::string path = dir.file("data_batch_1.bin");
  test::write_bytes(path, batch_bytes(0, {0, 10, 3}));
  const std::string m = error_message([&] { read_cifar10_batch(path); });
  EXPECT_CONTAINS(m, path);
  EXPECT_CONTAINS(m, "record 1 has label 10");
}

TEST(Cifar10, MissingDirectoryOrBatchesAreErrors) {
  TempFolder dir;
  const std::string missing = dir.str() + "/nope";
  EXPECT_CONTAINS(error_message([&] { read_cifar10_directory(missing); }), missing);
  test::write_bytes(dir.file("test_batch.bin"), batch_bytes(0, {1}));  // a test batch alone
  EXPECT_CONTAINS(error_message([&] { read_cifar10_directory(dir.str()); }),
                  "no training batches in " + dir.str());
  EXPECT_CONTAINS(error_message([&] { read_cifar10_batch(dir.str() + "/data_batch_9.bin"); }),
                  "data_batch_9.bin");
}

TEST(Cifar10, LoneDataBatchFileCounts) {
  TempFolder dir;  // what jpeg-tree-to-cifar-bin.py --batches 1 writes
  test::write_bytes(dir.file("data_batch.bin"), batch_bytes(0, {6, 6}));
  EXPECT_EQ(read_cifar10_directory(dir.str()).train.n, 2);
}

}  // namespace
}  // namespace kiln
