#include "data/image_decode.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

// Order matters: jpeglib.h needs <cstdio> (FILE) first, and jerror.h needs jpeglib.h.
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "core/error.h"
#include "data/file_bytes.h"

namespace kiln {

namespace {

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

// Returns an empty string on success, else libjpeg's message. `out` is resized to (h, w, 3).
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
  cinfo.out_color_space = JCS_RGB;  // YCbCr and grayscale both convert; CMYK fails loudly
  jpeg_start_decompress(&cinfo);
  h = static_cast<int>(cinfo.output_height);
  w = static_cast<int>(cinfo.output_width);
  out.resize(static_cast<std::size_t>(h) * w * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data() + static_cast<std::size_t>(cinfo.output_scanline) * w * 3;
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
  // RGBA, then drop A: PIL's convert("RGB") drops alpha rather than compositing it.
  image.format = PNG_FORMAT_RGBA;
  std::vector<std::uint8_t> rgba(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, rgba.data(), 0, nullptr)) {
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
