// weights/durable_file.h: stale temporaries of dead processes are removed (and nothing else), and
// a write that runs out of room (RLIMIT_FSIZE: write() fails with EFBIG, as on a full disk) fails
// naming the file, keeps the old one byte for byte and leaves no temporary.
#include "weights/durable_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "tests/weights/keras_files.h"
#include "weights/hdf5.h"

namespace kiln {
namespace {

using test::ScratchDir;

std::set<std::string> names_in(const std::filesystem::path& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.insert(e.path().filename().string());
  }
  return out;
}

void touch(const std::string& path) { std::ofstream(path) << "partial"; }

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(DurableFile, RemovesOnlyTheTemporariesOfDeadProcesses) {
  ScratchDir dir;
  const pid_t live = ::fork();
  if (live == 0) {
    ::pause();
    ::_exit(0);
  }
  const std::string path = dir.file("best.h5");
  const std::string dead = path + ".tmp-" + std::to_string(dead_pid());
  const std::string alive = path + ".tmp-" + std::to_string(live);
  touch(dead);
  touch(alive);
  touch(path + ".tmp-backup");                                    // not a pid: not Kiln's
  touch(dir.file("other.h5.tmp-" + std::to_string(dead_pid())));  // another target's
  EXPECT_EQ(remove_stale_temporaries(path), 1);
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(alive));  // a live writer's file is never touched
  EXPECT_EQ(names_in(dir.path()).size(), 3u);

  // Every atomic write clears its target's stale temporaries first.
  touch(dead);
  const std::vector<float> one = {1.f};
  write_h5_atomically(path, [&](H5Group& root) { root.write_dataset("x", {1}, one.data()); });
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(alive));
  ::kill(live, SIGKILL);
  ::waitpid(live, nullptr, 0);
  EXPECT_EQ(remove_stale_temporaries(path), 1);  // now it is dead too
}

// Runs write_h5_atomically in a child limited to `limit` bytes per file; returns its message.
std::string h5_write_error_under_limit(const std::string& path, rlim_t limit,
                                       const std::string& message_file) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing us
    const rlimit r{limit, limit};
    ::setrlimit(RLIMIT_FSIZE, &r);
    const std::vector<float> big(100000, 3.f);
    try {
      write_h5_atomically(path,
                          [&](H5Group& root) { root.write_dataset("x", {100000}, big.data()); });
    } catch (const Error& e) {
      std::ofstream(message_file) << e.what();
      ::_exit(0);
    }
    ::_exit(1);  // the write should not have fitted
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  std::ifstream in(message_file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(DurableFile, AFullDiskFailsTheSaveAndKeepsTheOldFile) {
  ScratchDir dir;
  const std::string path = dir.file("last.h5");
  const std::vector<float> one = {1.f};
  write_h5_atomically(path, [&](H5Group& root) { root.write_dataset("x", {1}, one.data()); });
  const std::vector<char> before = test::file_bytes(path);
  const std::string message_file = (dir.path().parent_path() / "kiln_durable_message.txt").string();
  const std::string msg = h5_write_error_under_limit(path, 64 * 1024, message_file);
  std::filesystem::remove(message_file);
  EXPECT_EQ(msg.rfind(path + ": cannot save: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
  EXPECT_EQ(test::file_bytes(path), before);
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"last.h5"});
}

}  // namespace
}  // namespace kiln
