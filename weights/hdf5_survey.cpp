#include "weights/hdf5_survey.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "weights/hdf5.h"

// Sanitizer runtimes define this; elsewhere it is null (a weak reference).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace kiln {
namespace {

// Bounds on the walk: Keras files nest a few groups deep and hold a few hundred objects, while a
// crafted file may hold link cycles (soft links) or millions of links.
constexpr int kMaxDepth = 32;
constexpr std::int64_t kMaxObjects = 100000;
constexpr std::int64_t kMaxDoubleRead = 1 << 20;  // values; bigger float32 data is read as floats
// The child's exit codes besides 0 (surveyed).
constexpr int kExitOther = 3;     // an exception other than kiln::Error (bad_alloc...)
constexpr int kExitTooLarge = 4;  // more objects or deeper nesting than the survey walks
constexpr int kExitLink = 5;      // a soft or external link, a dataset stored in other files
constexpr int kExitMemory = 6;    // reading took far more memory than the file's size
constexpr int kExitOddName = 7;   // a layer_names / weight_names entry that is not a plain path

template <class F>
void tolerate(F&& f) {
  try {
    f();
  } catch (const Error&) {  // the parent's real read reports these
  }
}

// Each of H5Group's attribute readers on each attribute: all the conversions Kiln's readers use.
void survey_attributes(const H5Group& g) {
  std::vector<std::string> names;
  tolerate([&] { names = g.attribute_names(); });
  // H5Aexists walks every attribute message (it has overread a damaged one): ask for the names
  // Kiln's readers ask for, present or not.
  for (const char* name : {"layer_names", "weight_names", "keras_version", "backend", "name"}) {
    tolerate([&] { g.has_attribute(name); });
  }
  for (const std::string& name : names) {
    tolerate([&] { g.has_attribute(name); });
    tolerate([&] { g.read_string_array_attribute(name); });
    tolerate([&] { g.read_double_attribute(name); });
    tolerate([&] { g.read_int64_attribute(name); });
    tolerate([&] { g.read_uint64_array_attribute(name); });
  }
}

// A file the survey cannot walk whole is refused: the parent could reach what the child did not.
[[noreturn]] void too_large() { ::_exit(kExitTooLarge); }

// The names Kiln's readers open by lookup rather than by listing: fixed group names, and the
// layer and weight names that Keras' legacy attributes list (weight names are paths such as
// "block1_conv1/kernel:0" in a nested model). On a damaged file, lookup by name (a B-tree search)
// can reach an object that listing the group (by index) does not, so these are surveyed too.
std::vector<std::string> names_looked_up(const H5Group& g) {
  std::vector<std::string> names = {"layers",
                                    "_layer_checkpoint_dependencies",
                                    "vars",
                                    "model_weights",
                                    "optimizer_weights",
                                    "kiln_training",
                                    "optimizer"};
  for (const char* list : {"layer_names", "weight_names"}) {
    tolerate([&] {
      if (!g.has_attribute(list)) return;
      for (std::string& n : g.read_string_array_attribute(list)) names.push_back(std::move(n));
    });
  }
  return names;
}

// A looked-up name must be a relative path of plain names ("a" or "a/b"): HDF5 would resolve
// "/a" from the root and ".." nowhere Keras means. Keras writes no other kind.
bool plain_relative_path(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  std::size_t begin = 0;
  while (begin <= name.size()) {
    const std::size_t end = std::min(name.find('/', begin), name.size());
    const std::string part = name.substr(begin, end - begin);
    if (part.empty() || part == "." || part == "..") return false;
    begin = end + 1;
  }
  return true;
}

struct Survey {
  std::int64_t budget = kMaxObjects;  // links followed, counted along every path (not objects)
  std::unordered_set<std::uint64_t> datasets_read;  // by address: one object, one read

  void dataset(const H5DatasetView& ds) {
    if (ds.stored_in_other_files()) ::_exit(kExitLink);
    if (!datasets_read.insert(ds.address()).second) return;
    ds.read_floats();
    // Checkpoints read float64 parameters as doubles, whatever their size.
    if (ds.numel() <= kMaxDoubleRead || ds.stored_value_bytes() == 8) ds.read_doubles();
  }

  // Follows `rel` (a link name, or a path of them) from g, after refusing the file when any link
  // on the way is soft or external: those make HDF5 open whatever file they name as the parent
  // follows them, and Keras writes neither. A link that does not exist or cannot be read is not
  // followed (the parent cannot follow it either) and costs no budget.
  void follow(const H5Group& g, const std::string& rel, int depth) {
    for (std::size_t slash = rel.find('/');; slash = rel.find('/', slash + 1)) {
      bool readable = false, hard = false;
      tolerate([&] {
        hard = g.is_hard_link(rel.substr(0, slash));
        readable = true;
      });
      if (!readable) return;
      if (!hard) ::_exit(kExitLink);
      if (slash == std::string::npos) break;
    }
    if (--budget < 0) too_large();
    tolerate([&] {
      if (g.has_group(rel)) {
        group(g.group(rel), depth + 1);
      } else if (g.has_dataset(rel)) {
        dataset(g.dataset(rel));
      }
    });
  }

  // Every group is walked along every path that reaches it, so that the budget and the depth
  // bound what the parent's readers (which recurse the same way) may meet: a link back to a group
  // above ends at the depth limit, not in an endless walk.
  void group(const H5Group& g, int depth) {
    survey_attributes(g);
    if (depth >= kMaxDepth) too_large();
    std::vector<std::string> children;
    tolerate([&] { children = g.children(); });
    const std::unordered_set<std::string> listed(children.begin(), children.end());
    for (const std::string& name : names_looked_up(g)) {
      if (listed.count(name) != 0) continue;  // walked below
      if (!plain_relative_path(name)) ::_exit(kExitOddName);
      follow(g, name, depth);
    }
    for (const std::string& child : children) follow(g, child, depth);
  }
};

// Peak resident memory of this process so far, in bytes. A forked child starts from its parent's
// resident size at the fork (Linux copies the counters with the address space).
std::int64_t peak_rss_bytes() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

// What reading a file may cost in memory beyond the process' own: twice its size (a dataset read
// as floats, then as doubles) plus KILN_HDF5_SURVEY_MEMORY_MB (default 512: HDF5's caches and
// Kiln's buffers). A corrupt variable-length string can make libhdf5 allocate and fill what its
// heap reference claims, gigabytes from a 25 KB file; the parent would then do the same.
std::int64_t memory_allowance(std::int64_t file_bytes) {
  std::int64_t base_mb = 512;
  if (const char* text = std::getenv("KILN_HDF5_SURVEY_MEMORY_MB"); text && *text) {
    base_mb = std::atoll(text);
  }
  return 2 * file_bytes + base_mb * (std::int64_t{1} << 20);
}

// The child's whole life: read everything, leave without running the parent's atexit handlers
// or flushing its stdio buffers (which the child inherited).
[[noreturn]] void survey_and_exit(const std::function<H5File()>& open, std::int64_t allowance) {
  if (std::getenv("KILN_HDF5_SURVEY_STDERR") == nullptr) {  // a sanitizer report stays quiet
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDERR_FILENO);
    // A crash here is what the survey is for: die by the signal at once. The handlers inherited
    // from a sanitizer or libFuzzer would symbolize a stack trace for a second or more, and
    // libFuzzer's would save the input as its own crash. (Kept with KILN_HDF5_SURVEY_STDERR, to
    // see the child's report.)
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::signal(sig, SIG_DFL);
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  }
  const std::int64_t rss_at_start = peak_rss_bytes();
  try {
    const H5File file = open();
    Survey survey;
    survey.group(file.root(), 0);
  } catch (const Error&) {
  } catch (...) {
    ::_exit(kExitOther);  // bad_alloc and the like: the parent would meet them too
  }
  if (peak_rss_bytes() - rss_at_start > allowance) ::_exit(kExitMemory);
  ::_exit(0);
}

// Anonymous resident memory of a process now (resident less file-backed pages), in bytes; 0 when
// it cannot be read (the child has just exited). The parent polls its child with this, so a file
// that makes libhdf5 fill gigabytes is stopped within one poll of crossing the allowance, not
// after filling what the file claims. Anonymous only: a forked child does not start with its
// parent's resident library code (file-backed pages are faulted in afresh), but it does start
// with its heap.
std::int64_t anonymous_resident_bytes(pid_t pid) {
  const std::string statm =
      "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/statm";
  std::FILE* f = std::fopen(statm.c_str(), "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0, shared = 0;
  const int got = std::fscanf(f, "%lld %lld %lld", &size, &resident, &shared);
  std::fclose(f);
  return got == 3 ? (resident - shared) * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Reaps the child, retrying when a signal interrupts the wait.
void wait_for(pid_t pid, int& status) {
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

double time_limit_seconds() {
  const char* text = std::getenv("KILN_HDF5_SURVEY_SECONDS");
  if (text == nullptr || *text == '\0') return 30;
  char* end = nullptr;
  const double s = std::strtod(text, &end);
  KILN_CHECK(end != text && *end == '\0' && s > 0, "KILN_HDF5_SURVEY_SECONDS: expected a ",
             "positive number of seconds, got '", text, "'");
  return s;
}

std::string describe_signal(int sig) {
  const char* name = sigabbrev_np(sig);
  return "signal " + std::to_string(sig) + (name ? std::string(", SIG") + name : std::string());
}

}  // namespace

void survey_hdf5_in_child(const std::string& path, const std::function<H5File()>& open,
                          std::int64_t file_bytes) {
  const double limit = time_limit_seconds();
  if (file_bytes < 0) {
    struct stat st {};
    file_bytes = ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
  }
  const std::int64_t allowance = memory_allowance(file_bytes);
  // The child starts with the parent's resident pages (copied at the fork).
  const std::int64_t resident_at_fork = anonymous_resident_bytes(0);
  const pid_t pid = ::fork();
  if (pid < 0)
    KILN_FAIL(path, ": cannot check the HDF5 file (fork failed: ", std::strerror(errno), ")");
  if (pid == 0) survey_and_exit(open, allowance);
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  bool over_memory = false;
  for (auto pause = std::chrono::microseconds(200);;
       pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR)
      KILN_FAIL(path, ": cannot check the HDF5 file (waitpid: ", std::strerror(errno), ")");
    if (anonymous_resident_bytes(pid) - resident_at_fork > allowance) {
      ::kill(pid, SIGKILL);  // the pid is still ours: the child is not reaped until wait_for
      wait_for(pid, status);
      over_memory = true;
      break;
    }
    const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - start;
    if (waited.count() > limit) {
      ::kill(pid, SIGKILL);
      wait_for(pid, status);
      KILN_FAIL(path, ": damaged or hostile HDF5 file: the HDF5 library did not finish reading it ",
                "within ", limit, " s (KILN_HDF5_SURVEY_SECONDS); nothing was loaded");
    }
    std::this_thread::sleep_for(pause);
  }
  if (over_memory || (WIFEXITED(status) && WEXITSTATUS(status) == kExitMemory)) {
    KILN_FAIL(path, ": damaged or hostile HDF5 file: reading it took more than ", allowance >> 20,
              " MB of memory for a file of ", file_bytes >> 10,
              " KB (KILN_HDF5_SURVEY_MEMORY_MB); nothing was loaded");
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    KILN_FAIL(path, ": could not check the HDF5 file: the process reading it was killed ",
              "(SIGKILL: out of memory?); nothing was loaded");
  }
  if (WIFSIGNALED(status)) {
    KILN_FAIL(path, ": damaged or hostile HDF5 file: the HDF5 library crashed (",
              describe_signal(WTERMSIG(status)), ") reading it; nothing was loaded");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitTooLarge) {
    KILN_FAIL(path, ": damaged or hostile HDF5 file: more than ", kMaxObjects, " objects or ",
              "groups nested deeper than ", kMaxDepth, ", more than any model file holds; ",
              "nothing was loaded");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitLink) {
    KILN_FAIL(path, ": refused: the HDF5 file holds a soft or external link, or a dataset ",
              "stored in external or virtual files (which can name any other file); Keras ",
              "never writes them and Kiln does not follow them; nothing was loaded");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitOddName) {
    KILN_FAIL(path, ": refused: a layer_names or weight_names entry is an absolute path or holds ",
              "an empty, '.' or '..' component, which Keras never writes; nothing was loaded");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitOther) {
    KILN_FAIL(path, ": damaged or hostile HDF5 file: reading it failed outside Kiln's checks ",
              "(out of memory?); nothing was loaded");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    KILN_FAIL(path, ": damaged or hostile HDF5 file: reading it ended abnormally (exit status ",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, ", e.g. a sanitizer report); ",
              "nothing was loaded");
  }
}

}  // namespace kiln
