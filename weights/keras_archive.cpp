#include "weights/keras_archive.h"

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
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

// Reads a member's bytes into `out`; false when the archive has no such member.
bool read_member(zip_t* z, const std::string& path, const char* name, std::vector<char>& out) {
  const zip_int64_t index = zip_name_locate(z, name, 0);
  if (index < 0) return false;
  zip_stat_t st;
  zip_stat_init(&st);
  KILN_CHECK(zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) == 0 &&
                 (st.valid & ZIP_STAT_SIZE) != 0,
             path, ": ", name, ": cannot read its size (", zip_strerror(z), ")");
  KILN_CHECK(st.size <= kMaxMember, path, ": ", name, ": ", st.size,
             " bytes, more than a model file Kiln can load");
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
  try {
    j = KerasJson::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    KILN_FAIL(path, ": ", name, " is not valid JSON (", e.what(), ")");
  }
  KILN_CHECK(j.is_object(), path, ": ", name, " is JSON but not an object ({...}), as Keras ",
             "writes it");
  return j;
}

std::string dump(const KerasJson& j) {
  // NOTE: class names come from folder names, which need not be UTF-8; replace, don't throw.
  return j.dump(-1, ' ', false, KerasJson::error_handler_t::replace);
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort: the data is already in the OS's hands
  ::fsync(fd);
  ::close(fd);
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
  KILN_CHECK(read_member(z.get(), path, kConfig, config), path, ": no ", kConfig,
             " in the archive: not a Keras 3 .keras model file");
  KILN_CHECK(read_member(z.get(), path, kWeights, weights), path, ": no ", kWeights,
             " in the archive (a model saved without weights, or not by Keras 3?)");
  KerasArchive out;
  out.config = parse_json(config, path, kConfig);
  out.metadata = read_member(z.get(), path, kMetadata, metadata)
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

  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  int code = 0;
  zip_t* z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  KILN_CHECK(z != nullptr, tmp, ": cannot create the archive (", zip_error_text(code), ")");
  try {
    // Keras' order: metadata, config, weights. The buffers outlive zip_close, which reads them.
    const std::pair<const char*, std::pair<const char*, std::size_t>> members[] = {
        {kMetadata, {metadata_text.data(), metadata_text.size()}},
        {kConfig, {config_text.data(), config_text.size()}},
        {kWeights, {weights.data(), weights.size()}}};
    for (const auto& [name, bytes] : members) {
      zip_source_t* src = zip_source_buffer(z, bytes.first, bytes.second, 0);
      KILN_CHECK(src != nullptr, tmp, ": ", name, ": ", zip_strerror(z));
      const zip_int64_t index = zip_file_add(z, name, src, ZIP_FL_OVERWRITE);
      if (index < 0) {
        zip_source_free(src);
        KILN_FAIL(tmp, ": ", name, ": ", zip_strerror(z));
      }
      KILN_CHECK(
          zip_set_file_compression(z, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) == 0, tmp,
          ": ", name, ": ", zip_strerror(z));
    }
    if (zip_close(z) != 0) KILN_FAIL(tmp, ": cannot write the archive (", zip_strerror(z), ")");
    z = nullptr;
    fsync_path(tmp, false);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      KILN_FAIL(path, ": cannot move the written file ", tmp,
                " into place: ", std::strerror(errno));
    }
  } catch (...) {
    if (z != nullptr) zip_discard(z);
    std::remove(tmp.c_str());
    throw;
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), true);
}

}  // namespace kiln
