// Files that lie about their size (issue 18, fuzz/): each reader must refuse them with a
// kiln::Error naming the file, before it allocates what the header claims. The inputs are made
// here from valid files; fuzz/corpus/*/regression-* replays the same kinds of input under
// libFuzzer's -malloc_limit_mb, which catches an allocation these tests cannot see.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "test_files.h"

namespace kiln {
namespace {

using test::error_message;
using test::TempFolder;

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void put_chunk(std::vector<std::uint8_t>& png, const char* type,
               const std::vector<std::uint8_t>& data) {
  put_be32(png, static_cast<std::uint32_t>(data.size()));
  std::vector<std::uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, static_cast<std::uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
}

// An 8-bit RGB PNG header of w x h and the first two rows of zeros, cut off there.
std::vector<std::uint8_t> png_header_claiming(std::uint32_t w, std::uint32_t h) {
  std::vector<std::uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // depth 8, RGB, deflate, no filter, no interlace
  put_chunk(png, "IHDR", ihdr);
  const std::vector<std::uint8_t> rows(2 * (1 + std::size_t{w} * 3), 0);
  uLongf size = compressBound(static_cast<uLong>(rows.size()));
  std::vector<std::uint8_t> idat(size);
  EXPECT_EQ(compress2(idat.data(), &size, rows.data(), static_cast<uLong>(rows.size()), 9), Z_OK);
  idat.resize(size);
  put_chunk(png, "IDAT", idat);
  return png;
}

// Regression (review of image_decode.cpp while writing fuzz/image_decode_fuzz.cpp): the header
// was trusted, and 60 bytes claiming 32000x32000 made decode_image zero-fill a 4.1 GB buffer
// before libpng found the data missing (fuzz/corpus/image_decode/regression-png-4gb).
TEST(HostileFiles, PngClaimingAHugeImageIsRefusedBeforeDecoding) {
  TempFolder dir;
  test::write_bytes(dir.file("big.png"), png_header_claiming(32000, 32000));
  std::string m = error_message([&] { decode_image_file(dir.file("big.png"), 8); });
  EXPECT_CONTAINS(m, dir.file("big.png"));
  EXPECT_CONTAINS(m, "32000x32000 pixels, more than the limit of 100 megapixels");
  // libpng's own default limit is 10^6 x 10^6: 4 TB of RGBA.
  test::write_bytes(dir.file("huge.png"), png_header_claiming(1000000, 1000000));
  m = error_message([&] { decode_image_file(dir.file("huge.png"), 8); });
  EXPECT_CONTAINS(m, "1000000x1000000 pixels");
}

// A small valid JPEG whose frame header (SOF0) is patched to claim w x h, cut after `keep` bytes.
std::vector<std::uint8_t> jpeg_claiming(const TempFolder& dir, std::uint16_t w, std::uint16_t h) {
  test::write_jpeg(dir.file("small.jpg"), std::vector<std::uint8_t>(8 * 8 * 3, 128), 8, 8, 3);
  std::vector<std::uint8_t> b = test::read_bytes(dir.file("small.jpg"));
  for (std::size_t i = 0; i + 9 < b.size(); ++i) {
    if (b[i] == 0xff && b[i + 1] == 0xc0) {  // FFC0, length(2), precision(1), height(2), width(2)
      b[i + 5] = static_cast<std::uint8_t>(h >> 8);
      b[i + 6] = static_cast<std::uint8_t>(h);
      b[i + 7] = static_cast<std::uint8_t>(w >> 8);
      b[i + 8] = static_cast<std::uint8_t>(w);
      return b;
    }
  }
  ADD_FAILURE() << "no SOF0 marker in the test JPEG";
  return b;
}

// Regression (same review): a JPEG's header was trusted, and 60000x60000 made decode_image
// zero-fill a 10.8 GB buffer before libjpeg found the data missing.
TEST(HostileFiles, JpegClaimingAHugeImageIsRefusedBeforeDecoding) {
  TempFolder dir;
  test::write_bytes(dir.file("big.jpg"), jpeg_claiming(dir, 60000, 60000));
  const std::string m = error_message([&] { decode_image_file(dir.file("big.jpg"), 8); });
  EXPECT_CONTAINS(m, dir.file("big.jpg"));
  EXPECT_CONTAINS(m, "60000x60000 pixels, more than the limit of 100 megapixels");
}

// Under the limit, cut before its end (EOI): an error at the first missing row (rows are
// appended as they decode, so no 243 MB buffer is filled first). NOTE: with its EOI marker kept,
// the same file decodes, the missing rows gray, as PIL (Keras' load_img) also accepts it.
TEST(HostileFiles, JpegWithoutTheDataItsHeaderPromisesIsCorrupt) {
  TempFolder dir;
  std::vector<std::uint8_t> b = jpeg_claiming(dir, 9000, 9000);
  b.resize(b.size() - 2);
  test::write_bytes(dir.file("cut.jpg"), b);
  const std::string m = error_message([&] { decode_image_file(dir.file("cut.jpg"), 8); });
  EXPECT_CONTAINS(m, dir.file("cut.jpg"));
  EXPECT_CONTAINS(m, "corrupt JPEG");
}

// Regression (review of gzip.cpp while writing fuzz/idx_fuzz.cpp): the trailer's size, 4 GiB
// here, was reserved before inflate found the data corrupt. Only the error is visible here;
// fuzz/corpus/idx/regression-gzip-isize replays it under -malloc_limit_mb=2048.
TEST(HostileFiles, GzipTrailerClaimingFourGiBIsCorruptNotAnAllocation) {
  TempFolder dir;
  std::vector<std::uint8_t> gz = test::gzip_bytes(std::vector<std::uint8_t>(64, 1));
  for (std::size_t i = gz.size() - 4; i < gz.size(); ++i) gz[i] = 0xff;
  test::write_bytes(dir.file("lie-idx1-ubyte.gz"), gz);
  const std::string m = error_message([&] { read_idx(dir.file("lie-idx1-ubyte.gz")); });
  EXPECT_CONTAINS(m, dir.file("lie-idx1-ubyte.gz"));
  EXPECT_CONTAINS(m, "corrupt gzip data");
}

}  // namespace
}  // namespace kiln
