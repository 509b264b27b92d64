// The image-folder walk, as `--data DIR` reads a folder of class folders (read_data_source ->
// read_image_folder): each of the input's parts (at most 6) becomes one file. A part's first
// byte places it: bits 0-1 its class folder (a/, b/, c/ or the top, where it is no image), bit
// 2 a subfolder, bit 3 a hidden name, bits 4-5 its extension (.png .jpg .JPEG .txt).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/cifar10/dataset_source.h"
#include "base/error.h"
#include "fuzz/support/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string> parts = kiln::fuzz::split_parts(data, size, 6);
  const std::string dir = kiln::fuzz::fresh_scratch_dir("images");
  const char* classes[] = {"a", "b", "c", ""};
  const char* exts[] = {".png", ".jpg", ".JPEG", ".txt"};
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    const auto place = static_cast<std::uint8_t>(parts[i][0]);
    std::string folder = dir + "/" + classes[place & 3];
    if (place & 4) folder += "/sub";
    std::filesystem::create_directories(folder);
    const std::string name =
        std::string(place & 8 ? "." : "") + "img" + std::to_string(i) + exts[(place >> 4) & 3];
    kiln::fuzz::write_file(folder + "/" + name, parts[i].substr(1));
  }
  try {
    std::string description;
    kiln::app::read_data_source(dir, 8, &description);
  } catch (const kiln::Error&) {
  }
  return 0;
}
