// JPEG and PNG decoding plus the bilinear resize, as predict reads an image (decode_image_file):
// the first byte picks the target size (1..64, both shrinking and enlarging), the rest is the
// file. The decoder tells the format by the bytes, so one target covers both codecs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "data/image_folder.h"
#include "fuzz/support/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int target = 1 + data[0] % 64;
  const std::string path =
      kiln::fuzz::write_scratch_file("image", kiln::fuzz::as_string(data + 1, size - 1));
  try {
    kiln::decode_image_file(path, target);
  } catch (const kiln::Error&) {
  }
  return 0;
}
