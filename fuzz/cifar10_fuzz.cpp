// CIFAR-10's binary version, as `--data DIR` reads it (read_data_source): the input's parts
// become data_batch_1.bin, batches.meta.txt and test_batch.bin (when present) in a fresh folder.
// The first byte picks the image size (resizing is part of the path).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/cifar10/dataset_source.h"
#include "base/error.h"
#include "fuzz/support/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::int64_t image_size = 32 + (data[0] % 4 == 0 ? data[0] % 17 - 8 : 0);
  const std::vector<std::string> parts = kiln::fuzz::split_parts(data + 1, size - 1, 3);
  const std::string dir = kiln::fuzz::fresh_scratch_dir("cifar-10-batches-bin");
  const char* names[] = {"data_batch_1.bin", "batches.meta.txt", "test_batch.bin"};
  for (std::size_t i = 0; i < parts.size(); ++i) {
    kiln::fuzz::write_scratch_file(std::string("cifar-10-batches-bin/") + names[i], parts[i]);
  }
  try {
    std::string description;
    kiln::app::read_data_source(dir, image_size, &description);
  } catch (const kiln::Error&) {
  }
  return 0;
}
