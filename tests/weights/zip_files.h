// Test helpers that write and read zip archives through the bare libzip API, the way Python's
// zipfile writes a Keras .keras (members stored, not compressed), independently of
// weights/keras_archive.h, the code under test.
#pragma once

#include <gtest/gtest.h>
#include <zip.h>

#include <string>
#include <utility>
#include <vector>

namespace kiln::test {

struct ZipMember {
  std::string name, bytes;
};

inline void write_zip(const std::string& path, const std::vector<ZipMember>& members) {
  int code = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(z, nullptr) << path;
  for (const ZipMember& m : members) {  // the buffers outlive zip_close, which reads them
    zip_source_t* src = zip_source_buffer(z, m.bytes.data(), m.bytes.size(), 0);
    const zip_int64_t i = zip_file_add(z, m.name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(i, 0) << m.name;
    zip_set_file_compression(z, static_cast<zip_uint64_t>(i), ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0) << zip_strerror(z);
}

struct ZipEntry {
  std::string name;
  bool stored = false;  // not compressed, as Keras writes
  std::string bytes;
};

// Every member in archive order; empty (with a test failure) when the archive cannot be opened.
inline std::vector<ZipEntry> read_zip(const std::string& path) {
  std::vector<ZipEntry> out;
  int code = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (z == nullptr) {
    ADD_FAILURE() << "cannot open " << path << " as a zip archive";
    return out;
  }
  for (zip_int64_t i = 0; i < zip_get_num_entries(z, 0); ++i) {
    zip_stat_t st;
    zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st);
    ZipEntry e{st.name, st.comp_method == ZIP_CM_STORE, std::string(st.size, '\0')};
    zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(i), 0);
    EXPECT_EQ(zip_fread(f, e.bytes.data(), st.size), static_cast<zip_int64_t>(st.size)) << e.name;
    zip_fclose(f);
    out.push_back(std::move(e));
  }
  zip_discard(z);
  return out;
}

}  // namespace kiln::test
