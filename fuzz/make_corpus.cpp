// Writes the seed corpora under fuzz/corpus/<target>/: small valid files of every kind the
// targets read, made by Kiln's own writers (weights, checkpoints, history) or by the codecs'
// (PNG, JPEG, gzip), so a seed is what the app itself writes or reads.
//   build-fuzz/fuzz/make_corpus fuzz/corpus      (scripts/fuzz corpus does this)
// Output is deterministic; rerun it after a format changes and commit what changed.
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

// Order matters: jpeglib.h needs <cstdio> (FILE) first.
#include <jpeglib.h>

#include "apps/cifar10/history.h"
#include "apps/cifar10/model_file.h"
#include "fuzz/support/fuzz_files.h"
#include "optim/adam.h"
#include "weights/checkpoint.h"
#include "weights/model_weights.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::string;

std::string out_root;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(out_root + "/" + target);
  kiln::fuzz::write_file(out_root + "/" + target + "/" + name, bytes);
}

Bytes slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

Bytes join(const std::vector<Bytes>& parts) {
  Bytes out;
  for (std::size_t i = 0; i < parts.size(); ++i)
    out += (i ? kiln::fuzz::kPartSeparator : "") + parts[i];
  return out;
}

// A (h, w, c) gradient, so the codecs have something other than one flat colour to code.
std::vector<std::uint8_t> pixels(int h, int w, int c) {
  std::vector<std::uint8_t> p(static_cast<std::size_t>(h) * w * c);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(i * 37 % 251);
  return p;
}

Bytes png(int h, int w, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = w;
  image.height = h;
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  const auto px = pixels(h, w, channels);
  png_alloc_size_t size = 0;
  png_image_write_to_memory(&image, nullptr, &size, 0, px.data(), 0, nullptr);
  Bytes out(size, '\0');
  png_image_write_to_memory(&image, out.data(), &size, 0, px.data(), 0, nullptr);
  out.resize(size);
  return out;
}

Bytes jpeg(int h, int w, int channels, bool progressive) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = channels;
  cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 75, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  const auto px = pixels(h, w, channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(px.data() + cinfo.next_scanline * w * channels);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

Bytes gzip(const Bytes& raw) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&zs, raw.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// An IDX uint8 array: magic 00 00 08 <ndim>, big-endian extents, data.
Bytes idx(const std::vector<std::uint32_t>& dims, std::uint8_t max_value) {
  Bytes out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  std::size_t n = 1;
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>(d >> s & 0xff);
    n *= d;
  }
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(i * 7 % (max_value + 1));
  return out;
}

Bytes cifar_records(int n) {
  Bytes out;
  for (int r = 0; r < n; ++r) {
    out += static_cast<char>(r % 10);
    const auto px = pixels(32, 32, 3);
    out.append(reinterpret_cast<const char*>(px.data()), px.size());
  }
  return out;
}

void weight_files(const std::string& tmp) {
  const auto model = kiln::fuzz::tiny_model();
  const std::string legacy = tmp + "/tiny.h5";
  kiln::save_weights(legacy, *model);
  put("keras_weights", "save_weights.h5", slurp(legacy));
  const std::string app = tmp + "/best.h5";
  kiln::app::save_model_file(app, *model, {"cat", "dog", "frog"},
                             {{"image_size", "32"}, {"epoch", "3"}}, kiln::app::KerasLayout::Flat);
  put("keras_weights", "model_file.h5", slurp(app));

  const std::string k3 = tmp + "/best.weights.h5";
  kiln::app::save_model_file(k3, *model, {"cat", "dog", "frog"}, {{"epoch", "3"}},
                             kiln::app::KerasLayout::Flat);
  put("keras3_weights", "model_file.weights.h5", slurp(k3));

  kiln::Adam adam(model->parameters());
  kiln::TrainingState state;
  state.epoch = 3;
  state.best_metric = 0.5;
  state.rng_states = {{"shuffle", {1, 2}}};
  state.notes = {{"monitor", "val_loss"}};
  const std::string ckpt = tmp + "/last.h5";
  kiln::save_checkpoint(ckpt, *model, adam, state);
  put("checkpoint", "last.h5", slurp(ckpt));
}

void data_files() {
  put("cifar10", "one_batch", "\x01" + cifar_records(1));
  put("cifar10", "batch_meta_test",
      "\x01" + join({cifar_records(1),
                     "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
                     cifar_records(1)}));

  const std::vector<Bytes> mnist = {idx({2, 4, 4}, 255), idx({2}, 9), idx({1, 4, 4}, 255),
                                    idx({1}, 9)};
  put("idx", "plain", join(mnist));
  put("idx", "gzip", join({gzip(mnist[0]), gzip(mnist[1]), gzip(mnist[2]), gzip(mnist[3])}));

  // image_decode: the first byte is the target size - 1.
  put("image_decode", "rgb.png", "\x07" + png(8, 8, 3));
  put("image_decode", "gray.png", "\x03" + png(5, 7, 1));
  put("image_decode", "rgba.png", "\x0f" + png(4, 4, 4));
  put("image_decode", "rgb.jpg", "\x07" + jpeg(8, 8, 3, false));
  put("image_decode", "gray.jpg", "\x0b" + jpeg(9, 6, 1, false));
  put("image_decode", "progressive.jpg", "\x04" + jpeg(16, 16, 3, true));

  // image_folder: each part's first byte places it (see image_folder_fuzz.cpp).
  put("image_folder", "two_classes",
      join({"\x00" + png(4, 4, 3), "\x11" + jpeg(8, 8, 3, false), "\x05" + png(3, 5, 1),
            "\x39" + Bytes("not an image")}));

  std::vector<kiln::app::EpochRecord> rows;
  for (int e = 1; e <= 4; ++e)
    rows.push_back({e, 1.0 / e, 0.2 * e, 1.1 / e, 0.19 * e, 1e-3, 12.5, 800});
  put("history", "history.csv", kiln::app::format_history(rows));

  auto argv = [](const std::vector<std::string>& a) {
    Bytes out;
    for (std::size_t i = 0; i < a.size(); ++i) out += (i ? Bytes(1, '\0') : Bytes()) + a[i];
    return out;
  };
  put("options", "train",
      argv({"train", "--epochs", "3", "--batch-size=32", "--lr", "1e-4", "--no-augment", "--seed",
            "7", "--val-split=0.2", "--resume"}));
  put("options", "train_layout",
      argv({"train", "--keras-layout", "flat", "--save-format", "weights.h5", "--unfreeze-from",
            "block5_conv1"}));
  put("options", "evaluate",
      argv({"evaluate", "--model", "m.h5", "--split", "test", "--limit", "100", "--device=cpu",
            "--threads", "2"}));
  put("options", "predict",
      argv({"predict", "a.jpg", "b.bin", "--top", "5", "--out", "p.csv", "--conv-engine", "kiln",
            "--deterministic"}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus OUT_DIR (fuzz/corpus)\n");
    return 2;
  }
  out_root = argv[1];
  weight_files(kiln::fuzz::scratch_dir());
  data_files();
  return 0;
}
