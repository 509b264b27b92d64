// Keras 3 .weights.h5 (train --save-format weights.h5, --weights): the bytes become a file, read
// by load_weights, which takes a root `layers` group as Keras 3's layout, into a small model.
// The seeds are Keras 3 files; the contract is keras_weights_fuzz's.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "fuzz/support/fuzz_files.h"
#include "weights/model_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path =
      kiln::fuzz::write_scratch_file("model.weights.h5", kiln::fuzz::as_string(data, size));
  static const auto model = kiln::fuzz::tiny_model();
  try {
    kiln::LoadOptions options;
    options.allow_missing = true;
    kiln::load_weights(path, *model, options);
  } catch (const kiln::Error&) {
  }
  return 0;
}
