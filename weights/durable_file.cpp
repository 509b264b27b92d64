#include "weights/durable_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/error.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {

std::string parent_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// 0 or errno. fsync on a directory fails with EINVAL on file systems that cannot sync one; there
// is nothing better to do there, so that one is not an error.
int sync_directory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int error = ::fsync(fd) == 0 ? 0 : errno;
  if (error == EINVAL) error = 0;
  ::close(fd);
  return error;
}

bool process_exists(long pid) {
  // EPERM: it exists but belongs to someone else, so its file may be in use.
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

}  // namespace

std::string temporary_path(const std::string& path) {
  return path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
}

void write_file_atomically(const std::string& path, const void* data, std::size_t size) {
  remove_stale_temporaries(path);
  const std::string tmp = temporary_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) KILN_FAIL(path, ": cannot save: cannot create ", tmp, ": ", std::strerror(errno));
  const char* bytes = static_cast<const char*>(data);
  std::size_t done = 0;
  int error = 0;
  while (done < size && error == 0) {
    const ssize_t n = ::write(fd, bytes + done, size - done);
    if (n < 0 && errno != EINTR) error = errno;
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  const char* step = "writing";
  if (error == 0 && ::fsync(fd) != 0) {
    step = "syncing";
    error = errno;
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) {
    step = "renaming";
    error = errno;
  }
  if (error != 0) {
    std::remove(tmp.c_str());
    KILN_FAIL(path, ": cannot save: ", std::strerror(error), " (", step, " ", tmp, ")");
  }
  if (const int e = sync_directory(parent_of(path))) {
    KILN_FAIL(path, ": saved, but the fsync of its directory failed: ", std::strerror(e));
  }
}

int remove_stale_temporaries(const std::string& path) {
  const std::string prefix = fs::path(path).filename().string() + ".tmp-";
  std::vector<fs::path> stale;  // collected first: removing while iterating may skip entries
  std::error_code ec;
  for (fs::directory_iterator it(parent_of(path), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!process_exists(std::stol(digits))) stale.push_back(it->path());
  }
  int removed = 0;
  for (const fs::path& p : stale) removed += fs::remove(p, ec) ? 1 : 0;
  return removed;
}

}  // namespace kiln
