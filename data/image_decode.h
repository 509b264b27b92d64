// Decoding JPEG and PNG files to 8-bit RGB, with libjpeg-turbo and libpng. The format is told by
// the file's first bytes, not its name. Gray becomes three equal channels; alpha is dropped (not
// composited), as PIL's convert("RGB") does, which Keras' load_img uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct RgbImage {
  std::vector<std::uint8_t> pixels;  // (h, w, 3) row-major RGB
  int h = 0, w = 0;
};

// Throws kiln::Error naming the file when it cannot be read, is neither JPEG nor PNG, or its data
// is corrupt or truncated.
RgbImage decode_image(const std::string& path);

}  // namespace kiln
