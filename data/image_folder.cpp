#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "base/error.h"
#include "data/resize.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {

bool is_hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The image files under one class folder, sorted; hidden files and folders are skipped.
std::vector<std::string> list_images(const fs::path& class_dir) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(class_dir); it != fs::end(it); ++it) {
    if (is_hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && has_image_extension(it->path())) {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Fills ds.class_names and ds.labels, and `files` (same order as labels).
void list_dataset(const std::string& dir, ImageDataset& ds, std::vector<std::string>& files) {
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && !is_hidden(entry.path())) class_dirs.push_back(entry.path());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  KILN_CHECK(!class_dirs.empty(), "image folder: ", dir,
             " has no class subfolders (expected DIR/<class>/<image>.jpg)");

  for (std::size_t k = 0; k < class_dirs.size(); ++k) {
    ds.class_names.push_back(class_dirs[k].filename().string());
    const std::vector<std::string> found = list_images(class_dirs[k]);
    KILN_CHECK(!found.empty(), "image folder: class folder ", class_dirs[k].string(),
               " holds no .jpg, .jpeg or .png images");
    files.insert(files.end(), found.begin(), found.end());
    ds.labels.insert(ds.labels.end(), found.size(), static_cast<std::int32_t>(k));
  }
}

}  // namespace

RgbImage decode_image_file(const std::string& path, int size) {
  KILN_CHECK(size > 0, "image: target size must be positive, got ", size);
  RgbImage img = decode_image(path);
  if (img.h == size && img.w == size) return img;
  RgbImage out;
  out.h = out.w = size;
  out.pixels.resize(static_cast<std::size_t>(size) * size * 3);
  resize_bilinear(img.pixels.data(), img.h, img.w, 3, out.pixels.data(), size, size);
  return out;
}

ImageDataset read_image_folder(const std::string& dir, int size) {
  KILN_CHECK(size > 0, "image folder: target size must be positive, got ", size);
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), "image folder: ", dir, " is not a directory");

  ImageDataset ds;
  std::vector<std::string> files;
  // std::filesystem throws its own errors (e.g. permission denied); make them kiln::Errors.
  try {
    list_dataset(dir, ds, files);
  } catch (const fs::filesystem_error& e) {
    KILN_FAIL("image folder: ", e.what());
  }

  ds.n = static_cast<std::int64_t>(files.size());
  ds.h = ds.w = size;
  ds.c = 3;
  ds.images.resize(static_cast<std::size_t>(ds.n * ds.image_size()));
  // Decoding dominates (about 70 us per 32x32 JPEG); files are independent, so spread them over
  // the cores. Errors are kept per file and the first in sorted order is reported, so the message
  // does not depend on thread timing.
  std::vector<std::string> errors(files.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t i = 0; i < ds.n; ++i) {
    try {
      const RgbImage img = decode_image_file(files[static_cast<std::size_t>(i)], size);
      std::memcpy(ds.image(i), img.pixels.data(), img.pixels.size());
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(i)] = e.what();
    }
  }
  for (const std::string& e : errors) {
    if (!e.empty()) throw Error(e);
  }
  return ds;
}

}  // namespace kiln
