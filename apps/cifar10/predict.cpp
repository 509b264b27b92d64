// cifar10 predict: image files and CIFAR-10 .bin batch files through a model file, as one
// in-memory dataset (so the loader's VGG preprocessing is exactly training's), in input order.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "apps/cifar10/commands.h"
#include "apps/cifar10/device.h"
#include "apps/cifar10/evaluate.h"
#include "apps/cifar10/model_file.h"
#include "apps/cifar10/pictures.h"
#include "apps/cifar10/text_file.h"
#include "core/autograd.h"
#include "core/functions.h"
#include "data/cifar10.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/resize.h"

namespace kiln::app {

namespace {

struct Row {
  std::string source;
  std::int64_t index = 0;
  int label = -1;  // -1: unknown
};

bool is_cifar_batch(const std::string& path) {
  std::string ext = path.size() >= 4 ? path.substr(path.size() - 4) : "";
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".bin";
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The indices of the `count` largest of p[0..k), largest first (ties: the lower index first).
std::vector<std::int64_t> top_classes(const float* p, std::int64_t k, std::int64_t count) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [p](auto a, auto b) { return p[a] > p[b]; });
  order.resize(static_cast<std::size_t>(count));
  return order;
}

}  // namespace

int run_predict(const PredictOptions& o) {
  const LoadedModel m = load_model_file(o.model);
  const std::int64_t size = m.config.image_size, k = m.config.classes;

  // Every input image, as the model sees it: (n, size, size, 3).
  ImageDataset data;
  data.h = data.w = size;
  data.c = 3;
  data.class_names = {"?"};  // the loader's labels are dummies; the real ones are in rows
  std::vector<Row> rows;
  for (const std::string& input : o.inputs) {
    if (is_cifar_batch(input)) {
      ImageDataset batch = read_cifar10_batch(input);
      for (std::int64_t i = 0; i < batch.n; ++i) rows.push_back({input, i, batch.labels[i]});
      if (batch.h != size) {
        ImageDataset resized;
        resized.h = resized.w = size;
        resized.c = 3;
        resized.n = batch.n;
        resized.images.resize(static_cast<std::size_t>(batch.n * size * size * 3));
        for (std::int64_t i = 0; i < batch.n; ++i) {
          resize_bilinear(batch.image(i), 32, 32, 3, resized.image(i), static_cast<int>(size),
                          static_cast<int>(size));
        }
        batch.images = std::move(resized.images);
      }
      data.images.insert(data.images.end(), batch.images.begin(), batch.images.end());
    } else {
      const RgbImage img = decode_image_file(input, static_cast<int>(size));
      rows.push_back({input, 0, -1});
      data.images.insert(data.images.end(), img.pixels.begin(), img.pixels.end());
    }
  }
  data.n = static_cast<std::int64_t>(rows.size());
  data.labels.assign(rows.size(), 0);

  // Probabilities (n, k), in input order.
  std::vector<float> probs;
  {
    NoGradGuard no_grad;
    LoaderOptions options;
    options.batch_size = o.batch_size;
    options.shuffle = false;
    BatchLoader loader(data, options);
    loader.start_epoch(0);
    while (auto batch = loader.next()) {
      const std::vector<float> p =
          softmax((*m.model)(on_compute_device(batch->images))).to_vector<float>();
      probs.insert(probs.end(), p.begin(), p.end());
    }
  }
  const std::vector<std::int64_t> pred = argmax_rows(probs, k);

  std::string csv = "source,index,label,pred";
  for (std::int64_t c = 0; c < k; ++c) csv += ",p" + std::to_string(c);
  csv += "\n";
  char buf[32];
  for (std::size_t i = 0; i < rows.size(); ++i) {
    csv += csv_field(rows[i].source) + "," + std::to_string(rows[i].index) + "," +
           (rows[i].label >= 0 ? std::to_string(rows[i].label) : "") + "," +
           std::to_string(pred[i]);
    for (std::int64_t c = 0; c < k; ++c) {
      std::snprintf(buf, sizeof buf, ",%.6f", probs[i * k + c]);
      csv += buf;
    }
    csv += "\n";
  }
  if (!o.out.empty()) write_text_atomically(o.out, csv);
  if (!o.sheet.empty()) {
    std::vector<SheetImage> sheet;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      SheetImage im;
      im.pixels = data.image(static_cast<std::int64_t>(i));
      im.caption = rows[i].label >= 0 ? std::filesystem::path(rows[i].source).filename().string() +
                                            " #" + std::to_string(rows[i].index)
                                      : std::filesystem::path(rows[i].source).filename().string();
      for (std::int64_t c : top_classes(probs.data() + i * k, k, std::min(o.top, k))) {
        im.top.emplace_back(m.class_names[c], probs[i * k + c]);
      }
      if (rows[i].label >= 0 && rows[i].label < k) im.truth = m.class_names[rows[i].label];
      sheet.push_back(std::move(im));
    }
    int width = 0, height = 0;
    const plot::Drawing draw = contact_sheet(
        sheet, size, "Predictions of " + std::filesystem::path(o.model).filename().string(), width,
        height);
    plot::write_picture(o.sheet, width, height, draw);
  }

  // The top classes of each image file; a summary of each .bin file.
  for (std::size_t i = 0; i < rows.size() && !o.common.quiet;) {
    if (rows[i].label < 0) {
      const float* p = probs.data() + i * k;
      const std::vector<std::int64_t> order = top_classes(p, k, std::min(o.top, k));
      std::string line = rows[i].source + ":";
      for (std::size_t t = 0; t < order.size(); ++t) {
        std::snprintf(buf, sizeof buf, " %.3f", p[order[t]]);
        line += (t ? ", " : " ") + m.class_names[order[t]] + buf;
      }
      std::printf("%s\n", line.c_str());
      ++i;
      continue;
    }
    std::size_t j = i;
    std::int64_t correct = 0;
    for (; j < rows.size() && rows[j].source == rows[i].source && rows[j].label >= 0 &&
           rows[j].index == static_cast<std::int64_t>(j - i);
         ++j) {
      correct += pred[j] == rows[j].label;
    }
    std::printf("%s: %zu images, accuracy %.4f\n", rows[i].source.c_str(), j - i,
                static_cast<double>(correct) / static_cast<double>(j - i));
    i = j;
  }
  if (!o.out.empty()) {
    std::printf("wrote %zu predictions to %s\n", rows.size(), o.out.c_str());
  }
  if (!o.sheet.empty()) std::printf("wrote the contact sheet %s\n", o.sheet.c_str());
  return 0;
}

}  // namespace kiln::app
