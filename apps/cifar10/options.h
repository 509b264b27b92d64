// Command-line options of `cifar10 train | evaluate | predict`: one struct per subcommand, filled
// by the parser in apps/cifar10/arg_parser.h from the option tables in options.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/cifar10/arg_parser.h"
#include "kernels/conv2d.h"

namespace kiln::app {

constexpr const char* kDefaultCifarDir = "data/cifar-10-batches-bin";
constexpr const char* kNotopWeightsName = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
constexpr const char* kDefaultWeights = "weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";

// Options every subcommand takes.
struct CommonOptions {
  std::string device = "auto";  // auto | cpu | cuda (see apps/cifar10/device.h)
  // --conv-engine: applied (kernels::cuda::set_conv_engine) only when given and the device is
  // cuda; otherwise the process's setting stands (auto, or KILN_CONV_ENGINE when set).
  kernels::cuda::ConvEngine conv_engine = kernels::cuda::ConvEngine::Auto;
  bool conv_engine_given = false;
  // --deterministic: turns deterministic GPU mode on (kernels::cuda::set_deterministic); without it
  // the process's setting stands (off, or KILN_DETERMINISTIC when set). Recorded for --resume.
  bool deterministic = false;
  std::uint64_t seed = 1337;
  bool seed_given = false;
  int threads = 0;  // 0: OpenMP's default
  bool quiet = false;
  bool help = false;
};

struct TrainOptions {
  CommonOptions common;
  std::string data = kDefaultCifarDir;
  std::string weights = kDefaultWeights;  // "none": random init
  bool fine_tune = false;                 // train the base too
  std::string unfreeze_from;              // train from this layer on ("" = head only)
  std::int64_t epochs = 25, batch_size = 64;
  double lr = 0;  // 0: 1e-3 with pretrained weights, 1e-4 with --weights none
  double val_split = 0.1;
  bool val_split_given = false;  // carve validation off train even when a test split exists
  std::int64_t limit_train = 0, limit_val = 0, limit_test = 0;  // 0: no limit
  std::int64_t image_size = 32;
  std::string out_dir = "models";
  bool no_augment = false;
  double rotation = 15, zoom = 0.1, shift = 0.1;
  bool flip = true;
  bool early_stopping = true;
  std::int64_t patience = 5;
  double min_delta = 0;
  bool restore_best = true;
  std::int64_t hidden = 256;
  double dropout = 0.5;
  bool resume = false;
  bool allow_nan = false;  // train on through a non-finite loss or gradient (divergence.h)
  // --keras-layout: how best.h5 holds the base. "nested" (default): one layer "vgg16", as Keras
  // saves Sequential([VGG16(include_top=False), Flatten(), ...]); "flat": the base's 13
  // convolutions as top-level layers, as Keras saves one functional model of all the layers.
  std::string keras_layout = "nested";
  // --save-format: "h5" (default) writes OUT/best.h5, Keras' legacy layout; "weights.h5" writes
  // OUT/best.weights.h5, Keras 3's model.save_weights layout; "keras" OUT/best.keras, a Keras 3
  // model archive (config and weights) that keras.saving.load_model loads with no code. h5 stays
  // the default: every Keras since 1.x and tf.keras 2 reads it, a .keras only Keras 3.
  std::string save_format = "h5";

  double effective_lr() const { return lr > 0 ? lr : (weights == "none" ? 1e-4 : 1e-3); }
};

struct EvaluateOptions {
  CommonOptions common;
  std::string model = "models/best.h5";
  std::string data = kDefaultCifarDir;
  std::string split = "auto";  // auto (test when present, else validation) | test | val | train
  double val_split = 0.1;
  bool val_split_given = false;
  std::int64_t limit = 0, batch_size = 64;
  std::string pictures;  // the confusion picture's PREFIX(.svg/.png); "" = beside the model; "none"
};

struct PredictOptions {
  CommonOptions common;
  std::string model = "models/best.h5";
  std::vector<std::string> inputs;  // image files or CIFAR-10 .bin batch files
  std::string out;                  // CSV path; "" = none
  std::string sheet;                // contact sheet .png/.svg; "" = none
  std::int64_t top = 3, batch_size = 64;
};

struct PlotOptions {
  bool help = false;
  std::string history;  // a history.csv (train's, or Keras' CSVLogger with the same columns)
  std::string out;      // PREFIX of PREFIX.svg/.png; "" = "training" beside the history file
  std::string title;    // "" = the history file's name
};

struct ExportOptions {
  CommonOptions common;
  std::string model = "models/best.h5";
  std::string onnx;        // the ONNX file to write (required)
  bool raw_input = false;  // uint8 NHWC RGB in, the preprocessing inside the graph
};

// Parse the arguments after the subcommand's name. Throw UsageError on any mistake; with --help
// they set common.help and stop.
TrainOptions parse_train_options(const std::vector<std::string>& args);
EvaluateOptions parse_evaluate_options(const std::vector<std::string>& args);
PredictOptions parse_predict_options(const std::vector<std::string>& args);
PlotOptions parse_plot_options(const std::vector<std::string>& args);
ExportOptions parse_export_options(const std::vector<std::string>& args);

// Usage texts (--help), and the program's overall usage.
std::string train_usage();
std::string evaluate_usage();
std::string predict_usage();
std::string plot_usage();
std::string export_usage();
std::string program_usage();

// For --resume: the train arguments worth recording in a checkpoint (all but --resume, --quiet,
// --threads, --device, --conv-engine, --allow-nan, --help), to be replayed before the new ones.
// --deterministic is recorded: it is a property of the run's results, like --seed, and a resumed
// run without it would silently stop being reproducible.
std::vector<std::string> recordable_train_args(const std::vector<std::string>& args);

}  // namespace kiln::app
