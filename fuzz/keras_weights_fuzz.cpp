// Keras legacy HDF5 weights (best.h5, --weights): the bytes become a file, read as the app reads
// a model file's facts (read_model_facts) and its weights (load_weights into a small model).
// The contract: a result or a kiln::Error; anything else escapes and the fuzzer reports it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/cifar10/model_file.h"
#include "base/error.h"
#include "fuzz/support/fuzz_files.h"
#include "weights/model_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path =
      kiln::fuzz::write_scratch_file("weights.h5", kiln::fuzz::as_string(data, size));
  try {
    std::vector<std::string> class_names;
    kiln::app::read_model_facts(path, &class_names);
  } catch (const kiln::Error&) {
  }
  static const auto model = kiln::fuzz::tiny_model();
  try {
    kiln::LoadOptions options;
    options.allow_missing = true;  // a partial file still reaches the binding code
    kiln::load_weights(path, *model, options);
  } catch (const kiln::Error&) {
  }
  return 0;
}
