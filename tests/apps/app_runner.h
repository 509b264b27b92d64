// Running the built cifar10 binary from the apps tests: in a test's own temporary folder, with
// stdout and stderr captured to files, and writers for the small inputs the tests make
// (CIFAR-10 batch files; PNGs and gzip come from tests/data/test_files.h).
// KILN_CIFAR10_BIN, the binary's path, comes from tests/CMakeLists.txt.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/data/test_files.h"

namespace kiln::test {

struct AppRun {
  int status = -1;  // exit status; 128 + signal when killed by one
  std::string out, err;
};

// Runs `cifar10 <args>` in `dir` (args pass through the shell as written), with HOME=dir so
// that no real ~/.keras/models/ takes part.
inline AppRun run_cifar10(const TempFolder& dir, const std::string& args) {
  const std::string out = dir.file(".run/stdout"), err = dir.file(".run/stderr");
  const std::string command = "cd '" + dir.str() + "' && HOME='" + dir.str() + "' '" +
                              KILN_CIFAR10_BIN "' " + args + " > '" + out + "' 2> '" + err + "'";
  const int raw = std::system(command.c_str());
  AppRun run;
  if (WIFEXITED(raw)) run.status = WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) run.status = 128 + WTERMSIG(raw);
  const auto text = [](const std::string& path) {
    const std::vector<std::uint8_t> b = read_bytes(path);
    return std::string(b.begin(), b.end());
  };
  run.out = text(out);
  run.err = text(err);
  return run;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// `n` CIFAR-10 records with random pixels and labels i % 10 (every class present when n >= 10).
inline std::vector<std::uint8_t> cifar_records(int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < n; ++i) {
    bytes.push_back(static_cast<std::uint8_t>(i % 10));
    for (int p = 0; p < 3072; ++p) bytes.push_back(static_cast<std::uint8_t>(gen() & 255));
  }
  return bytes;
}

// A solid-colour RGB PNG with a little noise, h x w.
inline void write_color_png(const std::string& path, int h, int w, std::uint8_t r, std::uint8_t g,
                            std::uint8_t b, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h * w * 3));
  for (std::size_t i = 0; i < px.size(); i += 3) {
    const int noise = static_cast<int>(gen() % 21) - 10;
    px[i] = static_cast<std::uint8_t>(std::clamp(r + noise, 0, 255));
    px[i + 1] = static_cast<std::uint8_t>(std::clamp(g + noise, 0, 255));
    px[i + 2] = static_cast<std::uint8_t>(std::clamp(b + noise, 0, 255));
  }
  write_png(path, px, h, w, 3);
}

}  // namespace kiln::test
