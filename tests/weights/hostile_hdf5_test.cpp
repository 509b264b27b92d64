// HDF5 files that crash or hang the HDF5 library itself (libhdf5 1.10, Debian 12's) end as
// one-line errors (weights/hdf5_survey.h), and headers that claim absurd sizes are refused before
// anything is allocated. The files are made here the way fuzzing found them: a Keras-style
// variable-length string attribute (layer_names) whose global-heap reference is damaged. Each
// test first shows that the file really does crash or hang the library when read without the
// survey, so it cannot pass by testing a harmless file.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/error.h"
#include "tests/support/error_of.h"
#include "tests/support/scoped_env.h"
#include "tests/weights/keras_files.h"
#include "weights/hdf5.h"
#include "weights/keras3_weights.h"

namespace kiln {
namespace {

using test::error_of;
using test::RawH5Writer;
using test::ScratchDir;

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file whose root attribute layer_names holds variable-length strings, and the file offset of
// the first string's global-heap reference: (length u32, collection address u64, index u32),
// found by its content (length 12, the address of the file's one "GCOL" collection).
struct VlenFile {
  std::vector<char> bytes;
  std::size_t reference = 0;
};

VlenFile vlen_file(const ScratchDir& dir) {
  const std::string path = dir.file("good.h5");
  {
    RawH5Writer w(path);
    w.vlen_string_list_attr("/", "layer_names", {"block1_conv1", "flatten", "dense"});
  }
  VlenFile f{read_bytes(path), 0};
  const std::string text(f.bytes.begin(), f.bytes.end());
  const std::size_t gcol = text.find("GCOL");
  EXPECT_NE(gcol, std::string::npos) << "no global heap in the file";
  char pattern[12];
  const std::uint32_t length = 12;  // "block1_conv1"
  const std::uint64_t address = gcol;
  std::memcpy(pattern, &length, 4);  // HDF5 is little-endian on disk, as this machine
  std::memcpy(pattern + 4, &address, 8);
  f.reference = text.find(std::string(pattern, 12));
  EXPECT_NE(f.reference, std::string::npos) << "no heap reference to the collection found";
  return f;
}

// Reads layer_names in a child process without the survey. Returns true when the child did not
// end well: neither a result nor a kiln::Error, but a signal (SIGSEGV; SIGALRM for a hang;
// SIGABRT under ASan's abort_on_error) or a sanitizer's exit status.
bool unsurveyed_read_fails_badly(const std::string& path, int seconds) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(static_cast<unsigned>(seconds));  // a hang ends as SIGALRM
    try {
      H5File::open_read_surveyed(path).root().read_string_array_attribute("layer_names");
    } catch (const Error&) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) > 1);
}

// The survey's refusal: one line naming the file (the wording depends on how the child died).
void expect_refused(const std::string& path) {
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_EQ(e.rfind(path + ": damaged or hostile HDF5 file: ", 0), 0u) << e;
  EXPECT_NE(e.find("nothing was loaded"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(HostileHdf5, AHeapReferenceThatCrashesTheLibraryIsAOneLineError) {
  ScratchDir dir;
  VlenFile f = vlen_file(dir);
  ASSERT_NE(f.reference, std::string::npos);
  f.bytes[f.reference + 15] = 0x7f;  // the object index's top byte: far past the collection
  const std::string path = dir.file("crash.h5");
  write_bytes(path, f.bytes);
  ASSERT_TRUE(unsurveyed_read_fails_badly(path, 10)) << "the file no longer crashes libhdf5";
  expect_refused(path);
}

TEST(HostileHdf5, AHeapReferenceThatHangsTheLibraryStopsAtTheTimeLimit) {
  ScratchDir dir;
  VlenFile f = vlen_file(dir);
  ASSERT_NE(f.reference, std::string::npos);
  f.bytes[f.reference + 3] = static_cast<char>(0xff);  // the length's top byte: ~4 GiB
  const std::string path = dir.file("hang.h5");
  write_bytes(path, f.bytes);
  ASSERT_TRUE(unsurveyed_read_fails_badly(path, 3)) << "the file no longer hangs libhdf5";
  // An allowance so large that the memory poll cannot be what stops it.
  const test::ScopedEnv env{{"KILN_HDF5_SURVEY_SECONDS", "1"},
                            {"KILN_HDF5_SURVEY_MEMORY_MB", "1000000"}};
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_NE(e.find(path + ": damaged or hostile HDF5 file: the HDF5 library did not finish "
                          "reading it within 1 s"),
            std::string::npos)
      << e;
}

// The same file under a small memory allowance: the parent, polling the child's resident
// memory, stops it as it fills what the reference claims, before the time limit. (The file
// does not finish within 3 s unpolled, above: so without the poll this ends at the 2.5 s limit
// with the time-limit message.)
TEST(HostileHdf5, AHeapReferenceThatFillsMemoryIsStoppedAtTheAllowance) {
  ScratchDir dir;
  VlenFile f = vlen_file(dir);
  ASSERT_NE(f.reference, std::string::npos);
  f.bytes[f.reference + 3] = static_cast<char>(0xff);
  const std::string path = dir.file("fill.h5");
  write_bytes(path, f.bytes);
  const test::ScopedEnv env{{"KILN_HDF5_SURVEY_MEMORY_MB", "64"},
                            {"KILN_HDF5_SURVEY_SECONDS", "2.5"}};
  const auto start = std::chrono::steady_clock::now();
  const std::string e = error_of([&] { H5File::open_read(path); });
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(e.find(path + ": damaged or hostile HDF5 file: reading it took more than 64 MB of "
                          "memory for a file of "),
            std::string::npos)
      << e;
  EXPECT_LT(took.count(), 2.5) << "stopped by the time limit, not by the memory poll";
}

TEST(HostileHdf5, TheSurveyLetsAGoodFileThrough) {
  ScratchDir dir;
  const VlenFile f = vlen_file(dir);
  const std::string path = dir.file("good.h5");
  EXPECT_EQ(H5File::open_read(path).root().read_string_array_attribute("layer_names"),
            (std::vector<std::string>{"block1_conv1", "flatten", "dense"}));
  EXPECT_FALSE(f.bytes.empty());
}

TEST(HostileHdf5, ABadTimeLimitIsNamed) {
  ScratchDir dir;
  vlen_file(dir);
  const test::ScopedEnv env{{"KILN_HDF5_SURVEY_SECONDS", "soon"}};
  const std::string e = error_of([&] { H5File::open_read(dir.file("good.h5")); });
  EXPECT_NE(e.find("KILN_HDF5_SURVEY_SECONDS: expected a positive number of seconds, got 'soon'"),
            std::string::npos)
      << e;
}

// A file whose reading costs more memory than its size allows is refused: with no allowance
// beyond twice the file's size, HDF5's own caches (megabytes) are already too much.
TEST(HostileHdf5, ReadingThatTakesFarMoreMemoryThanTheFileIsRefused) {
  ScratchDir dir;
  vlen_file(dir);
  const std::string path = dir.file("good.h5");
  const std::string e = error_of([&] {
    const test::ScopedEnv env{{"KILN_HDF5_SURVEY_MEMORY_MB", "0"}};
    H5File::open_read(path);
  });
  EXPECT_NE(e.find(path + ": damaged or hostile HDF5 file: reading it took more than 0 MB of "
                          "memory for a file of "),
            std::string::npos)
      << e;
  EXPECT_NO_THROW(H5File::open_read(path));  // the default allowance lets it through
}

// Nesting deeper than the survey walks (soft-link cycles look like this too): refused, since the
// parent could otherwise reach objects the child never read.
TEST(HostileHdf5, GroupsNestedDeeperThanTheSurveyWalksAreRefused) {
  ScratchDir dir;
  const std::string path = dir.file("deep.h5");
  std::string group;
  for (int i = 0; i < 40; ++i) group += "/g";
  {
    RawH5Writer w(path);
    w.group(group);
  }
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_NE(e.find(path + ": damaged or hostile HDF5 file: more than 100000 objects or groups "
                          "nested deeper than 32"),
            std::string::npos)
      << e;
}

// A weight file with an external link: following it would make HDF5 open any file the link
// names (here a "secret" file holding a dataset). Refused whole, before anything is followed.
TEST(HostileHdf5, AnExternalLinkIntoAnotherFileIsRefused) {
  ScratchDir dir;
  const std::string secret = dir.file("secret.h5"), path = dir.file("linked.h5");
  {
    RawH5Writer w(secret);
    w.dataset("/kernel", {2}, {1.5f, 2.5f});
  }
  {
    RawH5Writer w(path);
    w.group("/model_weights/dense");
    w.external_link("/model_weights/dense/kernel", secret, "/kernel");
  }
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_EQ(e, path +
                   ": refused: the HDF5 file holds a soft or external link, or a dataset "
                   "stored in external or virtual files (which can name any other file); Keras "
                   "never writes them and Kiln does not follow them; nothing was loaded");
  // The check can fail: without the survey, HDF5 follows the link into the other file.
  EXPECT_EQ(
      H5File::open_read_surveyed(path).root().dataset("model_weights/dense/kernel").read_floats(),
      (std::vector<float>{1.5f, 2.5f}));
}

// A dataset whose raw data HDF5 reads from another file (H5Pset_external): refused the same way.
TEST(HostileHdf5, ADatasetStoredInAnotherFileIsRefused) {
  ScratchDir dir;
  const std::string secret = dir.file("secret.bin"), path = dir.file("external.h5");
  const float values[2] = {1.5f, 2.5f};
  std::ofstream(secret, std::ios::binary).write(reinterpret_cast<const char*>(values), 8);
  {
    RawH5Writer w(path);
    w.external_storage_dataset("/kernel", 2, secret);
  }
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_EQ(e.rfind(path + ": refused: the HDF5 file holds a soft or external link, or a dataset "
                           "stored in external",
                    0),
            0u)
      << e;
  // The check can fail: without the survey, HDF5 reads the other file's bytes.
  EXPECT_EQ(H5File::open_read_surveyed(path).root().dataset("kernel").read_floats(),
            (std::vector<float>{1.5f, 2.5f}));
}

TEST(HostileHdf5, ASoftLinkIsRefusedToo) {
  ScratchDir dir;
  const std::string path = dir.file("soft.h5");
  {
    RawH5Writer w(path);
    w.dataset("/a/kernel", {1}, {1.0f});
    w.soft_link("/a/alias", "/a/kernel");
  }
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_EQ(e.rfind(path + ": refused: the HDF5 file holds a soft or external link", 0), 0u) << e;
}

// A dataset whose shape claims 2^40 floats in a file of a few kilobytes: refused by its claim,
// before a 4 TiB vector is made. (A chunked dataset may claim any extent; HDF5 reads unwritten
// chunks as fill values, so such a file is valid HDF5 and only the size check stops it.)
TEST(HostileHdf5, AShapeClaimingTerabytesIsRefusedBeforeAllocating) {
  ScratchDir dir;
  const std::string path = dir.file("huge.h5");
  {
    RawH5Writer w(path);
    w.chunked_empty_dataset("/big", {1 << 20, 1 << 20});
  }
  const H5File file = H5File::open_read(path);
  const std::string e = error_of([&] { file.root().dataset("big").read_floats(); });
  EXPECT_NE(e.find(path + ": /big: claims 1.09951e+12 values, far more than a file of "),
            std::string::npos)
      << e;
}

// A Keras 3 file whose layers group links back to the root: the reader's walk would recurse
// until the stack overflows. The survey refuses it (nesting past its depth), and the reader on
// its own refuses it too (the check behind the survey).
TEST(HostileHdf5, AHardLinkCycleIsRefusedByTheSurveyAndByTheReader) {
  ScratchDir dir;
  const std::string path = dir.file("cycle.weights.h5");
  {
    RawH5Writer w(path);
    w.group("/vars");
    w.group("/layers");
    w.hard_link("/layers/loop", "/");
  }
  const std::string surveyed = error_of([&] { H5File::open_read(path); });
  EXPECT_NE(surveyed.find(path + ": damaged or hostile HDF5 file: more than 100000 objects or "
                                 "groups nested deeper than 32"),
            std::string::npos)
      << surveyed;
  const std::string read =
      error_of([&] { read_keras3_weights(H5File::open_read_surveyed(path).root()); });
  EXPECT_NE(read.find(": groups nested more than 32 deep (a link back to a group above?)"),
            std::string::npos)
      << read;
}

// A weight_names entry through an external link: the survey looks such names up (a damaged
// file's listing can miss what a lookup finds), and must refuse the link before following it.
// The link's target is a FIFO, whose opening blocks: had the survey followed the link, it would
// end at the time limit instead.
TEST(HostileHdf5, ALookedUpNameThroughAnExternalLinkIsRefusedBeforeFollowingIt) {
  ScratchDir dir;
  const std::string fifo = dir.file("pipe.h5"), path = dir.file("lookup.h5");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  {
    RawH5Writer w(path);
    w.group("/model_weights/dense");
    w.vlen_string_list_attr("/model_weights/dense", "weight_names", {"ext/kernel:0"});
    w.external_link("/model_weights/dense/ext", fifo, "/kernel");
  }
  const test::ScopedEnv env{{"KILN_HDF5_SURVEY_SECONDS", "5"}};
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_EQ(e.rfind(path + ": refused: the HDF5 file holds a soft or external link", 0), 0u) << e;
}

// A weight_names entry that is an absolute path would be resolved from the root: refused.
TEST(HostileHdf5, AnAbsoluteWeightNameIsRefused) {
  ScratchDir dir;
  const std::string path = dir.file("absolute.h5");
  {
    RawH5Writer w(path);
    w.group("/model_weights/dense");
    w.vlen_string_list_attr("/model_weights/dense", "weight_names", {"/model_weights"});
  }
  const std::string e = error_of([&] { H5File::open_read(path); });
  EXPECT_EQ(e, path +
                   ": refused: a layer_names or weight_names entry is an absolute path or "
                   "holds an empty, '.' or '..' component, which Keras never writes; nothing "
                   "was loaded");
}

// A link name holding '/', which only damage makes (found by the keras3_weights fuzzer: a
// corrupt local heap named a link "/", and opening it by name opened the root, in a cycle).
TEST(HostileHdf5, ALinkNameHoldingASlashIsADamagedFile) {
  ScratchDir dir;
  const std::string path = dir.file("slash.h5");
  {
    RawH5Writer w(path);
    w.group("/layers/conv2d_link");
  }
  std::vector<char> bytes = read_bytes(path);
  const std::string name = "conv2d_link";
  auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  ASSERT_NE(at, bytes.end()) << "the link's name is not in the file";
  at[6] = '/';  // "conv2d/link": same length, so the heap stays consistent
  write_bytes(path, bytes);
  const std::string e =
      error_of([&] { H5File::open_read(path).root().group("layers").children(); });
  EXPECT_NE(e.find(": damaged HDF5 file: a link named 'conv2d/link' (a link's name cannot be "
                   "empty, '.' or hold '/')"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace kiln
