#include "data/cifar10.h"

#include <filesystem>

#include "base/error.h"
#include "data/file_bytes.h"

namespace kiln {

namespace fs = std::filesystem;

const std::vector<std::string>& cifar10_default_class_names() {
  static const std::vector<std::string> names{"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

ImageDataset read_cifar10_batch(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path, "cifar10");
  const std::size_t size = bytes.size();
  KILN_CHECK(size > 0, "cifar10: ", path, " is empty");
  KILN_CHECK(size % kCifarRecordBytes == 0, "cifar10: ", path,
             " is truncated or of the wrong size: ", size, " bytes is not a whole number of ",
             kCifarRecordBytes, "-byte records");

  constexpr int kPlane = kCifarImageSide * kCifarImageSide;
  ImageDataset ds;
  ds.n = static_cast<std::int64_t>(size / kCifarRecordBytes);
  ds.h = ds.w = kCifarImageSide;
  ds.c = 3;
  ds.class_names = cifar10_default_class_names();
  ds.images.resize(static_cast<std::size_t>(ds.n * ds.image_size()));
  ds.labels.resize(static_cast<std::size_t>(ds.n));
  for (std::int64_t r = 0; r < ds.n; ++r) {
    const std::uint8_t* rec = bytes.data() + r * kCifarRecordBytes;
    KILN_CHECK(rec[0] <= 9, "cifar10: ", path, ": record ", r, " has label ", int{rec[0]},
               ", expected 0..9");
    ds.labels[static_cast<std::size_t>(r)] = rec[0];
    const std::uint8_t* planes = rec + 1;  // (3, 32, 32)
    std::uint8_t* out = ds.image(r);       // (32, 32, 3)
    for (int p = 0; p < kPlane; ++p) {
      for (int ch = 0; ch < 3; ++ch) out[p * 3 + ch] = planes[ch * kPlane + p];
    }
  }
  return ds;
}

std::vector<std::string> read_cifar10_class_names(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path, "cifar10");
  const std::string text(bytes.begin(), bytes.end());
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      const auto last = line.find_last_not_of(" \t\r");
      names.push_back(line.substr(first, last - first + 1));
    }
    start = end + 1;
  }
  KILN_CHECK(names.size() == 10, "cifar10: ", path, " names ", names.size(),
             " classes, expected 10 (one name per line)");
  return names;
}

DatasetSplits read_cifar10_directory(const std::string& dir) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), "cifar10: ", dir,
             " is not a directory (expected cifar-10-batches-bin with data_batch_1.bin ..)");
  std::vector<std::string> train_files;
  for (int b = 1; b <= 5; ++b) {
    const fs::path p = fs::path(dir) / ("data_batch_" + std::to_string(b) + ".bin");
    if (fs::exists(p, ec)) train_files.push_back(p.string());
  }
  if (train_files.empty() && fs::exists(fs::path(dir) / "data_batch.bin", ec)) {
    train_files.push_back((fs::path(dir) / "data_batch.bin").string());
  }
  KILN_CHECK(!train_files.empty(), "cifar10: no training batches in ", dir,
             " (expected data_batch_1.bin .. data_batch_5.bin)");

  DatasetSplits splits;
  for (const std::string& f : train_files) append_images(splits.train, read_cifar10_batch(f));
  const fs::path test = fs::path(dir) / "test_batch.bin";
  if (fs::exists(test, ec)) splits.test = read_cifar10_batch(test.string());

  const fs::path meta = fs::path(dir) / "batches.meta.txt";
  const std::vector<std::string> names = fs::exists(meta, ec)
                                             ? read_cifar10_class_names(meta.string())
                                             : cifar10_default_class_names();
  splits.train.class_names = names;
  splits.test.class_names = names;
  return splits;
}

}  // namespace kiln
