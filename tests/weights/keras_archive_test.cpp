// weights/keras_archive.h: .keras archives written here through bare libzip and HDF5 (as Keras
// writes them: three stored members) read back, broken ones refused with one line naming the
// archive and the member, and the writer's archives read back through bare libzip and HDF5.
#include "weights/keras_archive.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"
#include "tests/weights/zip_files.h"
#include "weights/keras3_weights.h"

namespace kiln {
namespace {

using test::error_of;
using test::ScratchDir;
using test::ZipMember;

constexpr const char* kConfig = R"({"module": "keras", "class_name": "Sequential", "config": )"
                                R"({"name": "sequential", "layers": []}})";
constexpr const char* kMetadata =
    R"({"keras_version": "3.15.1", "date_saved": "2026-12-01@11:43:05", "kiln_seed": "7"})";

// A small model's weights in Keras 3's layout, as the bytes of a model.weights.h5.
std::string weights_bytes(const ScratchDir& dir) {
  const std::string path = dir.file("member.weights.h5");
  test::write_keras3_style(path,
                           {{"functional/input_layer", {"input_layer", {}}},
                            {"functional/conv2d", test::conv_layer("block1_conv1", 2, 3, 0.1f)},
                            {"flatten", {"flatten", {}}},
                            {"dense", test::dense_layer("dense", 3, 4, 0.3f)}},
                           /*with_names=*/true);
  const std::vector<char> b = test::file_bytes(path);
  return std::string(b.begin(), b.end());
}

std::vector<ZipMember> good_members(const ScratchDir& dir) {
  return {{"metadata.json", kMetadata},
          {"config.json", kConfig},
          {"model.weights.h5", weights_bytes(dir)}};
}

TEST(KerasArchive, ReadsConfigMetadataAndWeights) {
  ScratchDir dir;
  const std::string path = dir.file("m.keras");
  test::write_zip(path, good_members(dir));
  const KerasArchive a = read_keras_archive(path);
  EXPECT_EQ(a.config["class_name"], "Sequential");
  EXPECT_EQ(a.config["config"]["name"], "sequential");
  EXPECT_EQ(a.metadata["keras_version"], "3.15.1");
  EXPECT_EQ(a.metadata["kiln_seed"], "7");
  ASSERT_EQ(a.weights.keys, (std::vector<std::string>{"dense", "flatten", "functional/conv2d",
                                                      "functional/input_layer"}));
  EXPECT_TRUE(a.weights.keyed_by_class);
  const KerasLayer* conv = a.weights.find("block1_conv1");
  ASSERT_NE(conv, nullptr);
  ASSERT_EQ(conv->weights.size(), 2u);
  EXPECT_EQ(conv->weights[0].shape, (std::vector<std::int64_t>{3, 3, 2, 3}));
  EXPECT_EQ(conv->weights[0].data, test::ramp(54, 0.1f));
  EXPECT_TRUE(is_zip_file(path));
  EXPECT_FALSE(is_zip_file(dir.file("member.weights.h5")));
}

TEST(KerasArchive, MetadataIsOptional) {
  ScratchDir dir;
  const std::string path = dir.file("m.keras");
  std::vector<ZipMember> members = good_members(dir);
  members.erase(members.begin());
  test::write_zip(path, members);
  EXPECT_TRUE(read_keras_archive(path).metadata.empty());
}

// Each broken archive fails with one line that names it and what is wrong.
TEST(KerasArchive, BrokenArchivesFailNamingTheFileAndTheMember) {
  ScratchDir dir;
  const auto fails = [&](const std::string& name, const std::vector<ZipMember>& members,
                         const std::vector<std::string>& culprits) {
    SCOPED_TRACE(name);
    const std::string path = dir.file(name);
    test::write_zip(path, members);
    const std::string msg = error_of([&] { read_keras_archive(path); });
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
    for (const std::string& c : culprits) EXPECT_NE(msg.find(c), std::string::npos) << msg;
  };
  std::vector<ZipMember> m = good_members(dir);
  fails("no_config.keras", {m[0], m[2]}, {"no config.json"});
  fails("no_weights.keras", {m[0], m[1]}, {"no model.weights.h5"});
  fails("bad_json.keras", {m[0], {"config.json", "{\"module\": \"keras\", "}, m[2]},
        {"config.json is not valid JSON", "parse error"});
  fails("array.keras", {m[0], {"config.json", "[1, 2]"}, m[2]}, {"config.json", "not an object"});
  fails("bad_metadata.keras", {{"metadata.json", "keras 3"}, m[1], m[2]},
        {"metadata.json is not valid JSON"});
  fails("not_hdf5.keras", {m[0], m[1], {"model.weights.h5", "not an HDF5 file at all"}},
        {"not_hdf5.keras/model.weights.h5: not an HDF5 file"});
  // A million-deep nesting would overflow any recursive walk of the parsed tree.
  const std::string deep = "{\"a\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  fails("deep_metadata.keras", {{"metadata.json", deep}, m[1], m[2]},
        {"metadata.json nests deeper than 128 levels"});
  fails("deep_config.keras", {m[0], {"config.json", deep}, m[2]},
        {"config.json nests deeper than 128 levels"});
  fails("half_hdf5.keras", {m[0], m[1], {"model.weights.h5", m[2].bytes.substr(0, 1500)}},
        {"half_hdf5.keras/model.weights.h5"});
  fails("legacy.keras",
        {m[0],
         m[1],
         {"model.weights.h5",
          [&] {
            test::write_keras_style(dir.file("legacy.h5"), test::KerasStyle::TfKeras2, {});
            const auto b = test::file_bytes(dir.file("legacy.h5"));
            return std::string(b.begin(), b.end());
          }()}},
        {"legacy.keras/model.weights.h5", "layers group"});

  // Truncated: the central directory at the end is gone.
  test::write_zip(dir.file("whole.keras"), m);
  const std::vector<char> bytes = test::file_bytes(dir.file("whole.keras"));
  std::ofstream(dir.file("half.keras"), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::string msg = error_of([&] { read_keras_archive(dir.file("half.keras")); });
  EXPECT_NE(msg.find("half.keras: not a readable zip archive"), std::string::npos) << msg;

  // One byte changed inside the stored weights (the archive's middle): libzip's CRC check.
  std::vector<char> flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x5a;
  std::ofstream(dir.file("flipped.keras"), std::ios::binary)
      .write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
  msg = error_of([&] { read_keras_archive(dir.file("flipped.keras")); });
  EXPECT_NE(msg.find("flipped.keras: model.weights.h5: cannot read it (CRC error"),
            std::string::npos)
      << msg;

  msg = error_of([&] { read_keras_archive(dir.file("absent.keras")); });
  EXPECT_NE(msg.find("absent.keras: no such file"), std::string::npos) << msg;
}

TEST(KerasArchive, WritesThreeStoredMembersThatReadBack) {
  ScratchDir dir;
  const std::string path = dir.file("out.keras");
  const KerasJson config = KerasJson::parse(kConfig), metadata = KerasJson::parse(kMetadata);
  const std::vector<float> kernel = test::ramp(6, 0.7f);
  write_keras_archive(path, config, metadata, [&](H5Group& root) {
    write_keras3_weights(root, {{"dense", "dense", {{"", {2, 3}, kernel}}}}, "sequential", {});
  });
  const std::vector<test::ZipEntry> entries = test::read_zip(path);
  ASSERT_EQ(entries.size(), 3u);  // Keras takes a fourth member for an asset store
  EXPECT_EQ(entries[0].name, "metadata.json");
  EXPECT_EQ(entries[1].name, "config.json");
  EXPECT_EQ(entries[2].name, "model.weights.h5");
  for (const test::ZipEntry& e : entries) EXPECT_TRUE(e.stored) << e.name;
  EXPECT_EQ(KerasJson::parse(entries[0].bytes), metadata);
  EXPECT_EQ(KerasJson::parse(entries[1].bytes), config);
  // The weights member is a plain HDF5 file, as read by the bare C API.
  std::ofstream(dir.file("w.h5"), std::ios::binary)
      .write(entries[2].bytes.data(), static_cast<std::streamsize>(entries[2].bytes.size()));
  const test::RawDataset ds = test::read_raw_dataset(dir.file("w.h5"), "/layers/dense/vars/0");
  ASSERT_TRUE(ds.found);
  EXPECT_TRUE(ds.float32);
  EXPECT_EQ(ds.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(ds.values, kernel);
  EXPECT_EQ(read_keras_archive(path).weights.layers.at(0).weights.at(0).data, kernel);
}

TEST(KerasArchive, AFailedWriteLeavesNothingAndKeepsTheOldFile) {
  ScratchDir dir;
  const std::string path = dir.file("best.keras");
  test::write_zip(path, good_members(dir));
  const std::vector<char> before = test::file_bytes(path);
  EXPECT_THROW(write_keras_archive(path, KerasJson::object(), KerasJson::object(),
                                   [](H5Group&) { throw std::runtime_error("disk full"); }),
               std::runtime_error);
  EXPECT_EQ(test::file_bytes(path), before);
  // A temporary that cannot be created (a directory in its place) fails the same way.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  std::filesystem::create_directory(tmp);
  const std::string msg = error_of([&] {
    write_keras_archive(path, KerasJson::object(), KerasJson::object(), [](H5Group&) {});
  });
  EXPECT_NE(msg.find(tmp), std::string::npos) << msg;
  EXPECT_EQ(test::file_bytes(path), before);
  std::filesystem::remove(tmp);
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(e.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"best.keras", "member.weights.h5"}));
}

TEST(Hdf5Image, AFileMadeInMemoryOpensFromItsImage) {
  std::vector<char> image;
  {
    H5File f = H5File::create_in_memory("mem.h5");
    {
      H5Group root = f.root();
      const double v[2] = {1.5, -2};
      root.write_dataset("g/x", {2}, v);
    }
    image = f.image();
  }
  const H5File back = H5File::open_image(image, "archive.keras/mem.h5");
  EXPECT_EQ(back.root().dataset("g/x").read_doubles(), (std::vector<double>{1.5, -2}));
  // A second image under the same name while the first is open is its own file, not the first.
  image.resize(image.size() - 10);  // HDF5 compares the size with the superblock's, as on disk
  const std::string msg = error_of([&] { H5File::open_image(image, "archive.keras/mem.h5"); });
  EXPECT_EQ(msg.rfind("archive.keras/mem.h5: ", 0), 0u) << msg;
}

}  // namespace
}  // namespace kiln
