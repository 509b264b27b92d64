// weights/hdf5.h: the RAII layer reads what h5py writes (fixed and variable-length strings,
// the float64 (0,) of an empty list), reports failures as one line naming file and object, and
// writes files atomically.
#include "weights/hdf5.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"

namespace kiln {
namespace {

using test::error_of;
using test::RawH5Writer;
using test::ScratchDir;

TEST(Hdf5, ReadsStringsAsH5pyWritesThem) {
  ScratchDir dir;
  const std::string path = dir.file("strings.h5");
  {
    RawH5Writer w(path);
    w.group("/g");
    // Full-length fixed strings: no room for a terminator, which must not cost a character.
    w.string_list_attr("/g", "fixed", {"block1_conv1", "flatten", "fc1"});
    w.vlen_string_list_attr("/g", "vlen", {"a", "", "longer one"});
    w.string_list_attr("/g", "empty", {});
    w.vlen_string_attr("/", "backend", "tensorflow");
  }
  const H5File file = H5File::open_read(path);
  const H5Group root = file.root();
  const H5Group g = root.group("g");
  EXPECT_EQ(g.read_string_array_attribute("fixed"),
            (std::vector<std::string>{"block1_conv1", "flatten", "fc1"}));
  EXPECT_EQ(g.read_string_array_attribute("vlen"),
            (std::vector<std::string>{"a", "", "longer one"}));
  EXPECT_TRUE(g.read_string_array_attribute("empty").empty());
  EXPECT_EQ(root.read_string_attribute("backend"), "tensorflow");
  EXPECT_EQ(g.attribute_names(), (std::vector<std::string>{"empty", "fixed", "vlen"}));
}

TEST(Hdf5, WritesAndReadsDatasetsAndAttributes) {
  ScratchDir dir;
  const std::string path = dir.file("data.h5");
  const std::vector<float> f = {1.5f, -2.f, 3.25f, 0.f, 7.f, -8.5f};
  const std::vector<double> d = {1.0 / 3.0, 2e-300};
  write_h5_atomically(path, [&](H5Group& root) {
    root.write_dataset("a/b/floats", {2, 3}, f.data());
    root.write_dataset("doubles", {2}, d.data());
    root.write_dataset("scalar", {}, f.data());
    root.write_dataset("none", {0, 4}, f.data());
    H5Group a = root.group("a");
    a.write_string_array_attribute("names", {"x", "yy"});
    a.write_string_array_attribute("names", {"replaced"});
    a.write_string_attribute("version", "2.15.0");
    a.write_double_attribute("lr", 0.1);
    a.write_int64_attribute("step", -7);
    a.write_uint64_array_attribute("rng", {0xFFFFFFFFFFFFFFFFull, 3});
  });
  const H5File file = H5File::open_read(path);
  const H5Group root = file.root();
  EXPECT_EQ(root.children(), (std::vector<std::string>{"a", "doubles", "none", "scalar"}));
  EXPECT_TRUE(root.exists("a/b/floats"));
  EXPECT_FALSE(root.exists("a/missing/floats"));
  EXPECT_FALSE(root.exists("doubles/inside"));  // a dataset has no children: no error either
  EXPECT_TRUE(root.has_group("a/b"));
  EXPECT_FALSE(root.has_group("doubles"));
  EXPECT_TRUE(root.has_dataset("doubles"));
  EXPECT_FALSE(root.has_dataset("a"));

  const H5DatasetView floats = root.dataset("a/b/floats");
  EXPECT_EQ(floats.path(), "/a/b/floats");
  EXPECT_EQ(floats.shape(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(floats.read_floats(), f);
  EXPECT_EQ(root.dataset("doubles").read_doubles(), d);  // float64 kept exactly
  EXPECT_EQ(root.dataset("scalar").shape(), std::vector<std::int64_t>{});
  EXPECT_EQ(root.dataset("scalar").read_floats(), std::vector<float>{1.5f});
  EXPECT_EQ(root.dataset("none").numel(), 0);

  const H5Group a = root.group("a");
  EXPECT_EQ(a.path(), "/a");
  EXPECT_EQ(a.read_string_array_attribute("names"), std::vector<std::string>{"replaced"});
  EXPECT_EQ(a.read_string_attribute("version"), "2.15.0");
  EXPECT_EQ(a.read_double_attribute("lr"), 0.1);
  EXPECT_EQ(a.read_int64_attribute("step"), -7);
  EXPECT_EQ(a.read_uint64_array_attribute("rng"),
            (std::vector<std::uint64_t>{0xFFFFFFFFFFFFFFFFull, 3}));
}

TEST(Hdf5, ErrorsNameTheFileAndTheObject) {
  ScratchDir dir;
  const std::string path = dir.file("e.h5");
  const std::vector<float> v = {1};
  write_h5_atomically(path, [&](H5Group& root) {
    root.write_dataset("g/x", {1}, v.data());
    root.group("g").write_string_attribute("s", "text");
  });
  const H5File file = H5File::open_read(path);
  const H5Group root = file.root();
  const H5Group g = root.group("g");
  std::string msg = error_of([&] { g.dataset("y"); });
  EXPECT_NE(msg.find(path + ": /g/y"), std::string::npos) << msg;
  msg = error_of([&] { root.group("nope"); });
  EXPECT_NE(msg.find(path + ": /nope"), std::string::npos) << msg;
  msg = error_of([&] { g.read_string_attribute("missing"); });
  EXPECT_NE(msg.find(path + ": /g: no attribute 'missing'"), std::string::npos) << msg;
  msg = error_of([&] { g.read_double_attribute("s"); });
  EXPECT_NE(msg.find("string values, expected numbers"), std::string::npos) << msg;
}

TEST(Hdf5, OpenRejectsMissingTextAndTruncatedFilesInOneLine) {
  ScratchDir dir;
  std::string msg = error_of([&] { H5File::open_read(dir.file("absent.h5")); });
  EXPECT_EQ(msg, dir.file("absent.h5") + ": no such file");

  const std::string text = dir.file("notes.h5");
  std::ofstream(text) << "these are not weights\n";
  msg = error_of([&] { H5File::open_read(text); });
  EXPECT_EQ(msg, text + ": not an HDF5 file");

  const std::string zip = dir.file("model.keras");
  std::ofstream(zip, std::ios::binary) << "PK\x03\x04 rest of a zip archive";
  msg = error_of([&] { H5File::open_read(zip); });
  EXPECT_NE(msg.find("zip archive"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ends in .keras"), std::string::npos) << msg;  // how Kiln reads it

  const std::string good = dir.file("good.h5");
  const std::vector<float> big(50000, 1.f);
  write_h5_atomically(good, [&](H5Group& root) { root.write_dataset("x", {50000}, big.data()); });
  const std::vector<char> bytes = test::file_bytes(good);
  const std::string half = dir.file("half.h5");
  std::ofstream(half, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  msg = error_of([&] { H5File::open_read(half).root().dataset("x").read_floats(); });
  EXPECT_EQ(msg.rfind(half + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  msg = error_of([&] { H5File::open_read(dir.path().string()); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
}

// The existing file must survive any failed write, and no temporary may be left behind.
TEST(Hdf5, AtomicWriteKeepsTheOldFileWhenFillingFails) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  const std::vector<float> one = {1.f}, two = {2.f};
  write_h5_atomically(path, [&](H5Group& root) { root.write_dataset("x", {1}, one.data()); });
  const std::vector<char> before = test::file_bytes(path);

  EXPECT_THROW(write_h5_atomically(path,
                                   [&](H5Group& root) {
                                     root.write_dataset("x", {1}, two.data());
                                     KILN_FAIL("disk full, say");
                                   }),
               Error);
  EXPECT_EQ(test::file_bytes(path), before);
  const std::vector<std::string> left = {"w.h5"};
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_EQ(files, left);
}

TEST(Hdf5, AtomicWriteKeepsTheOldFileWhenTheTemporaryCannotBeCreated) {
  ScratchDir dir;
  const std::string path = dir.file("w.h5");
  const std::vector<float> one = {1.f};
  write_h5_atomically(path, [&](H5Group& root) { root.write_dataset("x", {1}, one.data()); });
  const std::vector<char> before = test::file_bytes(path);
  // A directory where the temporary should go (a permission bit would not stop root).
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  std::filesystem::create_directory(tmp);
  const std::string msg = error_of([&] {
    write_h5_atomically(path, [&](H5Group& root) { root.write_dataset("y", {1}, one.data()); });
  });
  EXPECT_NE(msg.find("cannot create " + tmp), std::string::npos) << msg;
  EXPECT_EQ(test::file_bytes(path), before);
  EXPECT_TRUE(std::filesystem::is_directory(tmp));  // not ours to remove

  const std::string elsewhere = dir.file("no/such/dir/w.h5");
  EXPECT_THROW(write_h5_atomically(
                   elsewhere, [&](H5Group& root) { root.write_dataset("y", {1}, one.data()); }),
               Error);
  EXPECT_FALSE(std::filesystem::exists(elsewhere));
}

}  // namespace
}  // namespace kiln
