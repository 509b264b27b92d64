// Kiln checkpoints (last.h5, train --resume): the bytes become a file, restored by
// load_checkpoint into a small model and an Adam over it. Loading checks everything before it
// changes anything, so the model and optimiser are built once and reused.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "fuzz/support/fuzz_files.h"
#include "optim/adam.h"
#include "weights/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path =
      kiln::fuzz::write_scratch_file("last.h5", kiln::fuzz::as_string(data, size));
  static const auto model = kiln::fuzz::tiny_model();
  static kiln::Adam adam(model->parameters());
  try {
    kiln::load_checkpoint(path, *model, adam);
  } catch (const kiln::Error&) {
  }
  return 0;
}
