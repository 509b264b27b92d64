#include "fuzz/support/fuzz_files.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/random.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"

namespace kiln::fuzz {

namespace fs = std::filesystem;

// libhdf5 can loop forever on a damaged file; Kiln's survey then kills its child and refuses the
// file, the behaviour under test. Its limit must fall well inside libFuzzer's -timeout (10 s in
// scripts/fuzz), or the refusal would be reported as the fuzzer's timeout. A value set by the
// caller wins (overwrite 0).
[[maybe_unused]] const bool survey_limit_set = [] {
  return ::setenv("KILN_HDF5_SURVEY_SECONDS", "3", 0) == 0;
}();

const std::string& scratch_dir() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors.
  static const std::string* dir = [] {
    const fs::path p = fs::temp_directory_path() / ("kiln-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_dir(), ec);
    });
    return new std::string(p.string());
  }();
  return *dir;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();  // a full /tmp is the harness' failure, not the reader's
}

std::string write_scratch_file(const std::string& name, const std::string& bytes) {
  std::string path = scratch_dir() + "/" + name;
  write_file(path, bytes);
  return path;
}

std::string fresh_scratch_dir(const std::string& name) {
  const fs::path p = fs::path(scratch_dir()) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<std::string> split_parts(const std::uint8_t* data, std::size_t size,
                                     std::size_t max_parts) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const std::string sep = kPartSeparator;
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = in.find(sep, start);
    if (at == std::string::npos) break;
    parts.push_back(in.substr(start, at - start));
    start = at + sep.size();
  }
  parts.push_back(in.substr(start));
  return parts;
}

std::shared_ptr<Sequential> tiny_model() {
  Generator gen(7);
  auto m = std::make_shared<Sequential>("tiny");
  m->add(std::make_shared<Conv2d>("conv", 1, 3, Conv2dConfig::same_relu(3), gen));
  m->add(std::make_shared<MaxPool2d>("pool"));
  m->add(std::make_shared<Flatten>("flatten", MapShape{3, 2, 2}));
  m->add(std::make_shared<Dense>("dense", 12, 6, Activation::ReLU, gen));
  m->add(std::make_shared<Dropout>("dropout", 0.25, 99));
  m->add(std::make_shared<Dense>("dense_1", 6, 3, Activation::None, gen));
  return m;
}

}  // namespace kiln::fuzz
