// Starting the cifar10 binary as a child the test controls: it can be killed at a chosen moment
// (run_cifar10 in app_runner.h waits for the end) and can run under a file-size limit.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/apps/app_runner.h"

extern char** environ;

namespace kiln::test {

struct Child {
  pid_t pid = -1;
  std::string out, err;  // files with its stdout and stderr
};

// `cifar10 <args>` in `dir` with HOME=dir, stdout and stderr to dir/.run/<tag>.out|.err.
// `file_size_limit` > 0: RLIMIT_FSIZE in bytes with SIGXFSZ ignored, so a write past it fails
// with EFBIG, as one on a full disk fails with ENOSPC.
inline Child spawn_cifar10(const TempFolder& dir, const std::vector<std::string>& args,
                           const std::string& tag, rlim_t file_size_limit = 0) {
  Child child;
  const std::string& binary = cifar10_binary().path;
  if (binary.empty()) {
    ADD_FAILURE() << cifar10_binary().how;
    return child;
  }
  child.out = dir.file(".run/" + tag + ".out");
  child.err = dir.file(".run/" + tag + ".err");
  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s{"HOME=" + dir.str()};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "HOME=", 5) != 0) env_s.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string cwd = dir.str();
  child.pid = ::fork();
  if (child.pid == 0) {
    const int out = ::open(child.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(child.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (file_size_limit > 0) {
      ::signal(SIGXFSZ, SIG_IGN);  // an ignored signal stays ignored across exec
      const rlimit limit{file_size_limit, file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  EXPECT_GT(child.pid, 0) << "fork failed";
  return child;
}

// Exit status as AppRun has it (128 + signal when killed); -1 while it runs (when !block).
inline int wait_child(const Child& child, bool block = true) {
  int raw = 0;
  if (::waitpid(child.pid, &raw, block ? 0 : WNOHANG) == 0) return -1;
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

inline std::string text_file(const std::string& path) {
  const std::vector<std::uint8_t> b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

}  // namespace kiln::test
