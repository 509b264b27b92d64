#include "data/idx.h"

#include <cstring>
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "data/file_bytes.h"
#include "data/gzip.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {

constexpr std::uint8_t kIdxTypeU8 = 0x08;
constexpr std::int64_t kVggMinSide = 32;

std::uint32_t big_endian_u32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

std::string hex_bytes(const std::uint8_t* p, std::size_t n) {
  std::ostringstream out;
  for (std::size_t i = 0; i < n; ++i) {
    static const char* digits = "0123456789abcdef";
    out << (i ? " " : "") << digits[p[i] >> 4] << digits[p[i] & 15];
  }
  return out.str();
}

// dir/name.gz when it exists, else dir/name (an error about the missing file names both).
std::string find_idx_file(const std::string& dir, const std::string& name) {
  std::error_code ec;
  const fs::path gz = fs::path(dir) / (name + ".gz");
  if (fs::exists(gz, ec)) return gz.string();
  const fs::path plain = fs::path(dir) / name;
  KILN_CHECK(fs::exists(plain, ec), "fashion-mnist: neither ", gz.string(), " nor ", plain.string(),
             " exists (Debian: apt-get install dataset-fashion-mnist)");
  return plain.string();
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_file_bytes(path, "idx");
  if (is_gzip(bytes)) bytes = gunzip(bytes, path, "idx");
  KILN_CHECK(bytes.size() >= 4, "idx: ", path, " is truncated: ", bytes.size(),
             " bytes, fewer than the 4-byte magic");
  KILN_CHECK(bytes[0] == 0 && bytes[1] == 0 && bytes[3] >= 1, "idx: ", path,
             " has bad magic bytes ", hex_bytes(bytes.data(), 4),
             " (expected 00 00 <type> <ndim>, e.g. 00 00 08 03)");
  KILN_CHECK(bytes[2] == kIdxTypeU8, "idx: ", path, " holds element type 0x",
             hex_bytes(bytes.data() + 2, 1), "; only 0x08 (uint8) is supported");
  const std::size_t ndim = bytes[3];
  const std::size_t header = 4 + 4 * ndim;
  KILN_CHECK(bytes.size() >= header, "idx: ", path, " is truncated: ", bytes.size(),
             " bytes, fewer than its ", header, "-byte header");
  IdxArray a;
  std::uint64_t count = 1;
  for (std::size_t d = 0; d < ndim; ++d) {
    a.dims.push_back(big_endian_u32(bytes.data() + 4 + 4 * d));
    count *= static_cast<std::uint64_t>(a.dims.back());
    // Real files hold at most ~10^8 elements; this also keeps the product from overflowing.
    KILN_CHECK(count <= (std::uint64_t{1} << 40), "idx: ", path, " declares absurd extents");
  }
  const std::uint64_t have = bytes.size() - header;
  KILN_CHECK(have >= count, "idx: ", path, " is truncated: its header promises ", count,
             " data bytes, the file holds ", have);
  KILN_CHECK(have == count, "idx: ", path, " has ", have - count,
             " bytes after the data its header describes");
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
  return names;
}

ImageDataset mnist_to_vgg_dataset(const IdxArray& images, const IdxArray& labels,
                                  const std::string& what) {
  KILN_CHECK(images.dims.size() == 3, what, ": images have ", images.dims.size(),
             " dimensions, expected 3 (count, rows, cols)");
  KILN_CHECK(labels.dims.size() == 1, what, ": labels have ", labels.dims.size(),
             " dimensions, expected 1 (count)");
  const std::int64_t n = images.dims[0], rows = images.dims[1], cols = images.dims[2];
  KILN_CHECK(labels.dims[0] == n, what, ": ", n, " images but ", labels.dims[0], " labels");
  KILN_CHECK(static_cast<std::int64_t>(images.data.size()) == n * rows * cols &&
                 static_cast<std::int64_t>(labels.data.size()) == n,
             what, ": data sizes do not match the dims");
  KILN_CHECK(rows <= kVggMinSide && cols <= kVggMinSide, what, ": images are ", rows, "x", cols,
             ", at most 32x32 can be padded to 32x32");
  ImageDataset ds;
  ds.n = n;
  ds.h = ds.w = kVggMinSide;
  ds.c = 3;
  ds.class_names = fashion_mnist_class_names();
  const std::int64_t top = (kVggMinSide - rows) / 2, left = (kVggMinSide - cols) / 2;
  ds.images.assign(static_cast<std::size_t>(n * ds.image_size()), 0);
  ds.labels.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t label = labels.data[static_cast<std::size_t>(i)];
    KILN_CHECK(label < 10, what, ": label ", i, " is ", int{label}, ", expected 0..9");
    ds.labels[static_cast<std::size_t>(i)] = label;
    const std::uint8_t* src = images.data.data() + i * rows * cols;  // (rows, cols)
    std::uint8_t* dst = ds.image(i);                                 // (32, 32, 3)
    for (std::int64_t y = 0; y < rows; ++y) {
      for (std::int64_t x = 0; x < cols; ++x) {
        std::uint8_t* px = dst + ((top + y) * ds.w + left + x) * 3;
        px[0] = px[1] = px[2] = src[y * cols + x];
      }
    }
  }
  return ds;
}

DatasetSplits read_fashion_mnist(const std::string& dir) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), "fashion-mnist: ", dir,
             " is not a directory (Debian: apt-get install dataset-fashion-mnist)");
  auto read_split = [&](const std::string& prefix) {
    const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
    const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
    return mnist_to_vgg_dataset(read_idx(images), read_idx(labels),
                                "fashion-mnist: " + images + " / " + labels);
  };
  return DatasetSplits{read_split("train"), read_split("t10k")};
}

}  // namespace kiln
