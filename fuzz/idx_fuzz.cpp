// IDX files (MNIST-style, plain or gzipped: told by the magic, not the name), as `--data DIR`
// reads them (read_data_source -> read_fashion_mnist): the input's four parts become the train
// and t10k images and labels. Each part also goes through read_idx alone, so a single corrupt
// file is explored without the other three having to be valid.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/cifar10/dataset_source.h"
#include "base/error.h"
#include "data/idx.h"
#include "fuzz/support/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string> parts = kiln::fuzz::split_parts(data, size, 4);
  const std::string dir = kiln::fuzz::fresh_scratch_dir("idx");
  const char* names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string path =
        kiln::fuzz::write_scratch_file(std::string("idx/") + names[i], parts[i]);
    try {
      kiln::read_idx(path);
    } catch (const kiln::Error&) {
    }
  }
  try {
    std::string description;
    kiln::app::read_data_source(dir, 32, &description);
  } catch (const kiln::Error&) {
  }
  return 0;
}
