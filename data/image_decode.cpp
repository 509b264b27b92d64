#include "data/image_decode.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

// Order matters: jpeglib.h needs <cstdio> (FILE) first, and jerror.h needs jpeglib.h.
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "base/error.h"
#include "data/file_bytes.h"

namespace kiln {

namespace {

// Checked against the header before any pixel buffer is allocated: a few bytes can claim
// 65535x65535 (JPEG) or 10^6x10^6 (PNG). 100 megapixels is past any camera this is fed from.
constexpr std::uint64_t kMaxPixels = 100'000'000;

std::string too_large(std::uint64_t w, std::uint64_t h) {
  return std::to_string(w) + "x" + std::to_string(h) + " pixels, more than the limit of " +
         std::to_string(kMaxPixels / 1'000'000) + " megapixels";
}

bool is_png(const std::vector<std::uint8_t>& b) {
  static const std::uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), sig, 8) == 0;
}

bool is_jpeg(const std::vector<std::uint8_t>& b) {
  return b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

// libjpeg reports fatal errors through error_exit, which must not return: we longjmp back to
// decode_jpeg_into. NOTE: only C objects live in that function's frame; the C++ output vector
// belongs to the caller, so the jump skips no destructor.
struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) about a premature end of data are errors here: a truncated file would
// otherwise decode "successfully" with its missing rows filled with gray. Other warnings (e.g.
// extraneous bytes before a marker, common in real photos) are ignored, as PIL ignores them.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

// Returns an empty string on success, else libjpeg's message. `out` is filled with (h, w, 3).
std::string decode_jpeg_into(const std::vector<std::uint8_t>& bytes, std::vector<std::uint8_t>& out,
                             int& h, int& w) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_on_error;
  err.pub.emit_message = jpeg_on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return err.message;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  // Before jpeg_start_decompress, which allocates a progressive file's whole coefficient buffer.
  if (std::uint64_t{cinfo.image_width} * cinfo.image_height > kMaxPixels) {
    h = static_cast<int>(cinfo.image_height);
    w = static_cast<int>(cinfo.image_width);
    jpeg_destroy_decompress(&cinfo);
    return too_large(w, h);
  }
  cinfo.out_color_space = JCS_RGB;  // YCbCr and grayscale both convert; CMYK fails loudly
  jpeg_start_decompress(&cinfo);
  h = static_cast<int>(cinfo.output_height);
  w = static_cast<int>(cinfo.output_width);
  // Rows are appended as they decode, so a truncated file that claims a large image fails at
  // its first missing row having touched only the rows it had (reserve commits no pages).
  const std::size_t row_bytes = static_cast<std::size_t>(w) * 3;
  out.clear();
  out.reserve(row_bytes * h);
  while (cinfo.output_scanline < cinfo.output_height) {
    out.resize(out.size() + row_bytes);
    JSAMPROW row = out.data() + out.size() - row_bytes;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return {};
}

RgbImage decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  RgbImage img;
  const std::string error = decode_jpeg_into(bytes, img.pixels, img.h, img.w);
  KILN_CHECK(error.empty(), "image: ", path, ": corrupt JPEG (", error, ")");
  return img;
}

// libpng's simplified API reports errors in image.message and never jumps into our code.
RgbImage decode_png(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  KILN_CHECK(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()), "image: ", path,
             ": corrupt PNG (", image.message, ")");
  if (std::uint64_t{image.width} * image.height > kMaxPixels) {
    png_image_free(&image);
    KILN_FAIL("image: ", path, ": PNG of ", too_large(image.width, image.height));
  }
  // RGBA, then drop A: PIL's convert("RGB") drops alpha rather than compositing it.
  // Sized in 64 bits (PNG_IMAGE_SIZE computes in 32 and wraps; libpng 1.6.39 then refuses the
  // image itself) and left uninitialised, so only the rows libpng decodes are touched.
  image.format = PNG_FORMAT_RGBA;
  std::unique_ptr<std::uint8_t[]> rgba(
      new std::uint8_t[std::size_t{image.width} * image.height * 4]);
  if (!png_image_finish_read(&image, nullptr, rgba.get(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    KILN_FAIL("image: ", path, ": corrupt PNG (", message, ")");
  }
  RgbImage img;
  img.h = static_cast<int>(image.height);
  img.w = static_cast<int>(image.width);
  img.pixels.resize(static_cast<std::size_t>(img.h) * img.w * 3);
  for (std::size_t p = 0, n = static_cast<std::size_t>(img.h) * img.w; p < n; ++p) {
    std::memcpy(&img.pixels[p * 3], &rgba[p * 4], 3);
  }
  return img;
}

}  // namespace

RgbImage decode_image(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path, "image");
  if (is_jpeg(bytes)) return decode_jpeg(bytes, path);
  if (is_png(bytes)) return decode_png(bytes, path);
  KILN_FAIL("image: ", path, " is neither a JPEG nor a PNG file (judged by its first bytes)");
}

}  // namespace kiln
