#include "weights/keras_archive.h"

#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "base/error.h"
#include "weights/durable_file.h"
#include "weights/keras3_weights.h"

namespace kiln {

namespace {

constexpr const char* kConfig = "config.json";
constexpr const char* kMetadata = "metadata.json";
constexpr const char* kWeights = "model.weights.h5";
// Larger than any model Kiln builds (VGG16 with a head is ~60 MB); refuses a corrupt size field
// before it becomes an allocation.
constexpr std::uint64_t kMaxMember = std::uint64_t{1} << 32;

std::string zip_error_text(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string text = zip_error_strerror(&e);
  zip_error_fini(&e);
  return text;
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }  // read-only here: nothing to write back
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

// Keras' JSON members are a few KB; a megabyte-deep nesting would overflow the stack of any
// recursive walk (nlohmann's dump() included), so depth and size are bounded before use.
constexpr std::uint64_t kMaxJsonMember = std::uint64_t{16} << 20;
constexpr int kMaxJsonDepth = 128;
// A member's recorded size, against what its compressed bytes can hold: deflate expands at most
// ~1032:1, so a larger claim is a lie (or a bomb) and is refused before the buffer is made.
constexpr std::uint64_t kMaxExpansion = 1100;

// Reads a member's bytes into `out`; false when the archive has no such member. `limit` caps
// its recorded size.
bool read_member(zip_t* z, const std::string& path, const char* name, std::vector<char>& out,
                 std::uint64_t limit = kMaxMember) {
  const zip_int64_t index = zip_name_locate(z, name, 0);
  if (index < 0) return false;
  zip_stat_t st;
  zip_stat_init(&st);
  KILN_CHECK(zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) == 0 &&
                 (st.valid & ZIP_STAT_SIZE) != 0,
             path, ": ", name, ": cannot read its size (", zip_strerror(z), ")");
  KILN_CHECK(st.size <= limit, path, ": ", name, ": ", st.size, " bytes, more than ",
             limit == kMaxMember ? "a model file Kiln can load" : "a Keras JSON member holds");
  KILN_CHECK((st.valid & ZIP_STAT_COMP_SIZE) == 0 || st.size <= 4096 ||
                 st.size / std::max<std::uint64_t>(st.comp_size, 1) <= kMaxExpansion,
             path, ": ", name, ": claims ", st.size, " bytes from ", st.comp_size,
             " compressed (damaged or hostile archive)");
  zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(index), 0);
  KILN_CHECK(f != nullptr, path, ": ", name, ": cannot open it (", zip_strerror(z), ")");
  out.assign(static_cast<std::size_t>(st.size), '\0');
  std::size_t got = 0;
  zip_int64_t n = 1;
  while (got < out.size() && (n = zip_fread(f, out.data() + got, out.size() - got)) > 0) {
    got += static_cast<std::size_t>(n);
  }
  // NOTE: libzip checks the CRC when a read reaches the member's end, so read once more there.
  char extra;
  if (n > 0) n = zip_fread(f, &extra, 1);
  const std::string error = n < 0 ? zip_file_strerror(f) : n > 0 ? "longer than recorded" : "";
  zip_fclose(f);
  KILN_CHECK(error.empty(), path, ": ", name, ": cannot read it (", error, "; damaged archive?)");
  KILN_CHECK(got == out.size(), path, ": ", name, ": ", got, " of its ", out.size(),
             " bytes (truncated archive?)");
  return true;
}

KerasJson parse_json(const std::vector<char>& text, const std::string& path, const char* name) {
  KerasJson j;
  bool too_deep = false;
  const KerasJson::parser_callback_t bound = [&too_deep](int depth, KerasJson::parse_event_t,
                                                         KerasJson&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;  // discards the rest once too deep
  };
  try {
    j = KerasJson::parse(text.begin(), text.end(), bound);
  } catch (const nlohmann::json::exception& e) {
    KILN_FAIL(path, ": ", name, " is not valid JSON (", e.what(), ")");
  }
  KILN_CHECK(!too_deep, path, ": ", name, " nests deeper than ", kMaxJsonDepth,
             " levels (damaged or hostile archive)");
  KILN_CHECK(j.is_object(), path, ": ", name, " is JSON but not an object ({...}), as Keras ",
             "writes it");
  return j;
}

std::string dump(const KerasJson& j) {
  // NOTE: class names come from folder names, which need not be UTF-8; replace, don't throw.
  return j.dump(-1, ' ', false, KerasJson::error_handler_t::replace);
}

}  // namespace

bool is_zip_file(const std::string& path) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
  return std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

KerasArchive read_keras_archive(const std::string& path) {
  std::error_code ec;
  KILN_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
  KILN_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, not a file");
  int code = 0;
  ZipPtr z(zip_open(path.c_str(), ZIP_RDONLY, &code));
  KILN_CHECK(z != nullptr, path, ": not a readable zip archive, as a Keras .keras file is (",
             zip_error_text(code), "; truncated or damaged?)");
  std::vector<char> config, metadata, weights;
  KILN_CHECK(read_member(z.get(), path, kConfig, config, kMaxJsonMember), path, ": no ", kConfig,
             " in the archive: not a Keras 3 .keras model file");
  KILN_CHECK(read_member(z.get(), path, kWeights, weights), path, ": no ", kWeights,
             " in the archive (a model saved without weights, or not by Keras 3?)");
  KerasArchive out;
  out.config = parse_json(config, path, kConfig);
  out.metadata = read_member(z.get(), path, kMetadata, metadata, kMaxJsonMember)
                     ? parse_json(metadata, path, kMetadata)
                     : KerasJson::object();
  const H5File file = H5File::open_image(weights, path + "/" + kWeights);
  out.weights = read_keras3_weights(file.root());
  return out;
}

void write_keras_archive(const std::string& path, const KerasJson& config,
                         const KerasJson& metadata,
                         const std::function<void(H5Group& root)>& fill_weights) {
  std::vector<char> weights;
  {
    H5File file = H5File::create_in_memory(path + "/" + kWeights);
    {
      H5Group root = file.root();
      fill_weights(root);
    }
    weights = file.image();
  }
  const std::string config_text = dump(config), metadata_text = dump(metadata);

  // The archive is built in memory and written by write_file_atomically (weights/durable_file.h),
  // as every file Kiln saves is: a kill or a full disk leaves the old file or the new one.
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  KILN_CHECK(buffer != nullptr, path, ": cannot start the archive (", zip_error_strerror(&error),
             ")");
  zip_t* z = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (z == nullptr) {
    zip_source_free(buffer);
    KILN_FAIL(path, ": cannot start the archive (", zip_error_strerror(&error), ")");
  }
  zip_source_keep(buffer);  // zip_close would free it; its bytes are read after the close
  std::vector<char> bytes;
  try {
    // Keras' order: metadata, config, weights. The buffers outlive zip_close, which reads them.
    const std::pair<const char*, std::pair<const char*, std::size_t>> members[] = {
        {kMetadata, {metadata_text.data(), metadata_text.size()}},
        {kConfig, {config_text.data(), config_text.size()}},
        {kWeights, {weights.data(), weights.size()}}};
    for (const auto& [name, member] : members) {
      zip_source_t* src = zip_source_buffer(z, member.first, member.second, 0);
      KILN_CHECK(src != nullptr, path, ": ", name, ": ", zip_strerror(z));
      const zip_int64_t index = zip_file_add(z, name, src, ZIP_FL_OVERWRITE);
      if (index < 0) {
        zip_source_free(src);
        KILN_FAIL(path, ": ", name, ": ", zip_strerror(z));
      }
      KILN_CHECK(
          zip_set_file_compression(z, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) == 0, path,
          ": ", name, ": ", zip_strerror(z));
    }
    if (zip_close(z) != 0) KILN_FAIL(path, ": cannot build the archive (", zip_strerror(z), ")");
    z = nullptr;
    zip_stat_t st;
    zip_stat_init(&st);
    KILN_CHECK(zip_source_stat(buffer, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
                   zip_source_open(buffer) == 0,
               path, ": cannot read the built archive back");
    bytes.resize(static_cast<std::size_t>(st.size));
    const zip_int64_t got = zip_source_read(buffer, bytes.data(), st.size);
    zip_source_close(buffer);
    KILN_CHECK(got == static_cast<zip_int64_t>(st.size), path,
               ": cannot read the built archive back");
  } catch (...) {
    if (z != nullptr) zip_discard(z);
    zip_source_free(buffer);
    throw;
  }
  zip_source_free(buffer);
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace kiln
