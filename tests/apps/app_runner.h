// Running the cifar10 binary from the apps tests: in a test's own temporary folder, with
// stdout and stderr captured to files, and writers for the small inputs the tests make
// (CIFAR-10 batch files; PNGs and gzip come from tests/data/test_files.h).
//
// Which cifar10 runs (find_cifar10_binary): the tests also run from an unpacked
// scripts/make-bundle bundle on another machine, where the build tree's path baked in at compile
// time (KILN_CIFAR10_BUILD_PATH, from tests/CMakeLists.txt) does not exist. So, in this order:
//   1. $KILN_CIFAR10_BIN when set and not empty (scripts/gpu-check sets it). It must name an
//      executable file: a wrong value is a mistake to report, never hidden by a fallback;
//   2. `cifar10` beside this test binary (/proc/self/exe's folder: a bundle's bin/);
//   3. the build tree's path, KILN_CIFAR10_BUILD_PATH.
// Finding none is a test failure that lists everything tried.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "tests/data/test_files.h"

#ifndef KILN_CIFAR10_BUILD_PATH
#define KILN_CIFAR10_BUILD_PATH ""  // a build without the cifar10 target: rules 1 and 2 only
#endif

namespace kiln::test {

struct BinaryLookup {
  std::string path;  // the binary to run; empty when none was found
  std::string how;   // which rule found it, or (when path is empty) everything tried and why not
};

inline bool is_executable_file(const std::string& path) {
  std::error_code ec;
  return !path.empty() && std::filesystem::is_regular_file(path, ec) &&
         ::access(path.c_str(), X_OK) == 0;
}

// The rules above, on explicit inputs so that they can be tested: `from_env` is
// $KILN_CIFAR10_BIN (nullptr when unset), `exe_dir` the test binary's folder (empty when
// unknown), `build_path` the compile-time path (empty when there is none).
inline BinaryLookup find_cifar10_binary(const char* from_env, const std::string& exe_dir,
                                        const std::string& build_path) {
  if (from_env != nullptr && *from_env != '\0') {
    if (is_executable_file(from_env)) return {from_env, "from KILN_CIFAR10_BIN"};
    return {"", std::string("KILN_CIFAR10_BIN is '") + from_env +
                    "', which is not an executable file (set it to the cifar10 binary, or unset "
                    "it to use the one beside the test binary)"};
  }
  std::string tried = "KILN_CIFAR10_BIN is not set";
  if (!exe_dir.empty()) {
    const std::string beside = (std::filesystem::path(exe_dir) / "cifar10").string();
    if (is_executable_file(beside)) return {beside, "beside the test binary"};
    tried += "; no executable " + beside + " beside the test binary";
  }
  if (!build_path.empty()) {
    if (is_executable_file(build_path)) return {build_path, "the build tree's, from compile time"};
    tried += "; no executable " + build_path + " (the build tree's, from compile time)";
  }
  return {"", "cannot find the cifar10 binary: " + tried};
}

// The lookup for this process, done once.
inline const BinaryLookup& cifar10_binary() {
  static const BinaryLookup lookup = [] {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return find_cifar10_binary(std::getenv("KILN_CIFAR10_BIN"),
                               ec ? std::string() : exe.parent_path().string(),
                               KILN_CIFAR10_BUILD_PATH);
  }();
  return lookup;
}

struct AppRun {
  int status = -1;  // exit status; 128 + signal when killed by one
  std::string out, err;
};

// Runs a shell `command` that sends its stdout to `out` and its stderr to `err`, and returns its
// exit status (128 + the signal when killed) with both files' text.
inline AppRun run_shell(const std::string& command, const std::string& out,
                        const std::string& err) {
  AppRun run;
  const int raw = std::system(command.c_str());
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

// Runs `cifar10 <args>` in `dir` (args pass through the shell as written), with HOME=dir so
// that no real ~/.keras/models/ takes part.
// Without a binary, the test fails saying what was tried, and the run has status -1 and that
// message as its stderr. The first run of a process prints which binary it uses (scripts/gpu-check
// looks for that line in the log).

inline AppRun run_cifar10(const TempFolder& dir, const std::string& args) {
  const BinaryLookup& binary = cifar10_binary();
  AppRun run;
  if (binary.path.empty()) {
    ADD_FAILURE() << binary.how;
    run.err = binary.how;
    return run;
  }
  static bool said = false;
  if (!said) {
    std::printf("apps tests: cifar10 binary %s (%s)\n", binary.path.c_str(), binary.how.c_str());
    std::fflush(stdout);
    said = true;
  }
  const std::string out = dir.file(".run/stdout"), err = dir.file(".run/stderr");
  const std::string command = "cd '" + dir.str() + "' && HOME='" + dir.str() + "' '" + binary.path +
                              "' " + args + " > '" + out + "' 2> '" + err + "'";
  return run_shell(command, out, err);
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
