#include "apps/cifar10/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "apps/cifar10/commands.h"
#include "apps/cifar10/dataset_source.h"
#include "apps/cifar10/device.h"
#include "apps/cifar10/distributed.h"
#include "apps/cifar10/model_file.h"
#include "apps/cifar10/pictures.h"
#include "core/autograd.h"
#include "core/functions.h"
#include "data/gpu_input.h"
#include "data/loader.h"

namespace kiln::app {

std::vector<std::int64_t> argmax_rows(const std::vector<float>& values, std::int64_t k) {
  std::vector<std::int64_t> out(values.size() / static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float* row = values.data() + i * static_cast<std::size_t>(k);
    out[i] = std::max_element(row, row + k) - row;
  }
  return out;
}

Evaluation evaluate_dataset(Module& model, const ImageDataset& data, std::int64_t batch_size,
                            std::int64_t classes) {
  Evaluation e;
  e.classes = classes;
  e.confusion.assign(static_cast<std::size_t>(classes * classes), 0);
  model.eval();
  if (data.empty()) {
    e.loss = e.accuracy = std::numeric_limits<double>::quiet_NaN();
    return e;
  }
  for (const std::int32_t label : data.labels) {
    KILN_CHECK(label < classes, "evaluate: the data has label ", label, " but the model predicts ",
               classes, " classes");
  }
  // In a job of N processes each rank evaluates its share and the sums are reduced, so every
  // rank gets the figures of the whole dataset (apps/cifar10/distributed.h).
  ImageDataset shard;
  if (job_size() > 1) shard = evaluation_shard(data);
  const ImageDataset& mine = job_size() > 1 ? shard : data;
  batch_size = std::max<std::int64_t>(1, batch_size / job_size());
  NoGradGuard no_grad;
  double loss_sum = 0;
  std::int64_t correct = 0;
  if (!mine.empty()) {
    LoaderOptions options;
    options.batch_size = batch_size;
    options.shuffle = false;
    // On the GPU the device preprocesses the uploaded pixels, as in training (data/gpu_input.h).
    std::unique_ptr<GpuInput> gpu;
    if (compute_device() == Device::CUDA) {
      options.form = BatchForm::Pixels;
      gpu = std::make_unique<GpuInput>(std::min(batch_size, mine.n), static_cast<int>(mine.h),
                                       static_cast<int>(mine.w));
    }
    BatchLoader loader(mine, options);
    loader.start_epoch(0);
    std::optional<Batch> batch = loader.next();
    if (gpu && batch) gpu->stage(*batch);
    while (batch) {
      const Tensor logits = model(gpu ? gpu->images(*batch) : on_compute_device(batch->images));
      std::optional<Batch> next = loader.next();
      if (gpu && next) gpu->stage(*next);  // uploads while this batch computes
      const std::int64_t b = batch->labels.numel();
      loss_sum += softmax_cross_entropy(logits, batch->labels).item() * static_cast<double>(b);
      const std::vector<std::int64_t> pred = argmax_rows(logits.to_vector<float>(), classes);
      const std::vector<std::int32_t> labels = batch->labels.to_vector<std::int32_t>();
      for (std::size_t i = 0; i < pred.size(); ++i) {
        correct += pred[i] == labels[i];
        ++e.confusion[static_cast<std::size_t>(labels[i] * classes + pred[i])];
      }
      e.n += b;
      batch = std::move(next);
    }
  }
  sum_over_job(&loss_sum, 1);
  std::vector<std::int64_t> counts{correct, e.n};
  counts.insert(counts.end(), e.confusion.begin(), e.confusion.end());
  sum_over_job(counts.data(), static_cast<std::int64_t>(counts.size()));
  correct = counts[0];
  e.n = counts[1];
  std::copy(counts.begin() + 2, counts.end(), e.confusion.begin());
  e.loss = loss_sum / static_cast<double>(e.n);
  e.accuracy = static_cast<double>(correct) / static_cast<double>(e.n);
  return e;
}

std::string format_evaluation_details(const Evaluation& e, const std::vector<std::string>& names) {
  std::size_t width = 5;
  for (const std::string& n : names) width = std::max(width, n.size());
  std::string out = "per-class accuracy:\n";
  char buf[256];
  for (std::int64_t k = 0; k < e.classes; ++k) {
    std::int64_t total = 0;
    for (std::int64_t p = 0; p < e.classes; ++p) total += e.confusion[k * e.classes + p];
    const std::int64_t hit = e.confusion[k * e.classes + k];
    if (total > 0) {
      std::snprintf(buf, sizeof buf, "  %-*s  %.4f  (%lld/%lld)\n", static_cast<int>(width),
                    names[k].c_str(), static_cast<double>(hit) / static_cast<double>(total),
                    static_cast<long long>(hit), static_cast<long long>(total));
    } else {
      std::snprintf(buf, sizeof buf, "  %-*s       -  (0/0)\n", static_cast<int>(width),
                    names[k].c_str());
    }
    out += buf;
  }
  out += "confusion matrix (rows: true class, columns: predicted class):\n";
  out += "  " + std::string(width, ' ');
  for (std::int64_t p = 0; p < e.classes; ++p) {
    std::snprintf(buf, sizeof buf, " %5lld", static_cast<long long>(p));
    out += buf;
  }
  out += "\n";
  for (std::int64_t k = 0; k < e.classes; ++k) {
    std::snprintf(buf, sizeof buf, "  %-*s", static_cast<int>(width), names[k].c_str());
    out += buf;
    for (std::int64_t p = 0; p < e.classes; ++p) {
      std::snprintf(buf, sizeof buf, " %5lld",
                    static_cast<long long>(e.confusion[k * e.classes + p]));
      out += buf;
    }
    out += "\n";
  }
  return out;
}

int run_evaluate(const EvaluateOptions& o) {
  const LoadedModel m = load_model_file(o.model);
  // The validation split must be the one train carved: same seed and fraction, from the file.
  std::uint64_t seed = o.common.seed;
  double val_split = o.val_split;
  if (!o.common.seed_given && m.facts.count("seed")) {
    seed = std::strtoull(m.facts.at("seed").c_str(), nullptr, 10);
  }
  if (!o.val_split_given && m.facts.count("val_split")) {
    val_split = std::strtod(m.facts.at("val_split").c_str(), nullptr);
  }

  std::string description;
  DatasetSplits splits = read_data_source(o.data, m.config.image_size, &description);
  std::string split = o.split;
  if (split == "auto") split = splits.test.empty() ? "val" : "test";
  ImageDataset data;
  if (split == "test") {
    KILN_CHECK(!splits.test.empty(), o.data, " has no test split; use --split val");
    data = std::move(splits.test);
  } else if (split == "val") {
    data = carve_validation(splits.train, val_split, seed).validation;
  } else {
    data = std::move(splits.train);
  }
  if (o.limit > 0 && o.limit < data.n) {
    data.n = o.limit;
    data.images.resize(static_cast<std::size_t>(data.n * data.image_size()));
    data.labels.resize(static_cast<std::size_t>(data.n));
  }
  // In a job of N processes every rank evaluates its share; rank 0 prints.
  if (job_root()) {
    std::printf(
        "model     %s (VGG16, head dense %lld -> dense_1 %lld, %lldx%lld input)\n", o.model.c_str(),
        static_cast<long long>(m.config.hidden), static_cast<long long>(m.config.classes),
        static_cast<long long>(m.config.image_size), static_cast<long long>(m.config.image_size));
    std::printf("data      %s split of %s: %lld images\n", split.c_str(), description.c_str(),
                static_cast<long long>(data.n));
  }
  std::fflush(stdout);
  const Evaluation e = evaluate_dataset(*m.model, data, o.batch_size, m.config.classes);
  if (!job_root()) return 0;
  const auto correct = static_cast<long long>(std::llround(e.accuracy * static_cast<double>(e.n)));
  std::printf("loss      %.4f\naccuracy  %.4f (%lld/%lld)\n\n%s", e.loss, e.accuracy, correct,
              static_cast<long long>(e.n), format_evaluation_details(e, m.class_names).c_str());
  if (o.pictures != "none") {
    const std::string prefix =
        o.pictures.empty() ? (std::filesystem::path(o.model).parent_path() / "confusion").string()
                           : o.pictures;
    char accuracy[32];
    std::snprintf(accuracy, sizeof accuracy, "%.4f", e.accuracy);
    const std::string title =
        "Confusion matrix: " + std::filesystem::path(o.model).filename().string() + " on " +
        std::to_string(e.n) + " " + split + " images, accuracy " + accuracy;
    // The figures are printed already: a picture that cannot be written (a read-only models
    // folder) is a note, not a failed evaluation.
    try {
      for (const std::string& path : write_confusion_pictures(prefix, e, m.class_names, title)) {
        std::printf("\nwrote %s", path.c_str());
      }
      std::printf("\n");
    } catch (const Error& err) {
      std::printf("\nnote: the confusion picture was not drawn: %s\n", err.what());
    }
  }
  return 0;
}

}  // namespace kiln::app
