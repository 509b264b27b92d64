#include "apps/cifar10/options.h"

#include "base/error.h"

namespace kiln::app {

namespace {

void add_common(ArgParser& p, CommonOptions& c) {
  p.option(
      "--device", "auto|cpu|cuda",
      "where to compute (default auto: the GPU when this build has CUDA and a device answers, "
      "else the CPU; the first line printed says which; cuda without a usable GPU is an error)",
      [&c](const std::string& v) {
        if (v != "auto" && v != "cpu" && v != "cuda")
          throw UsageError("--device: expected auto, cpu or cuda, got '" + v + "'");
        c.device = v;
      },
      false);
  p.option(
      "--conv-engine", "auto|cudnn|kiln",
      "convolutions with --device cuda: cuDNN, Kiln's own kernels, or auto, the faster of the two "
      "timed once per layer shape (default auto, or KILN_CONV_ENGINE when set)",
      [&c](const std::string& v) {
        try {
          c.conv_engine = kernels::cuda::parse_conv_engine(v.c_str());
        } catch (const Error&) {
          throw UsageError("--conv-engine: expected auto, cudnn or kiln, got '" + v + "'");
        }
        c.conv_engine_given = true;
      },
      false);
  p.flag("--deterministic",
         "GPU results repeat bit for bit from run to run on the same machine and software: only "
         "cuDNN algorithms it flags deterministic, and under --conv-engine auto a fixed engine per "
         "layer shape instead of a timed one; may be slower (default off, or KILN_DETERMINISTIC=1; "
         "recorded for --resume)",
         [&c] { c.deterministic = true; });
  p.option("--seed", "N", "seed of every random stream (default 1337)", [&c](const std::string& v) {
    c.seed = static_cast<std::uint64_t>(parse_int("--seed", v, 0));
    c.seed_given = true;
  });
  p.option(
      "--threads", "N", "CPU threads (OpenMP; default: all cores)",
      [&c](const std::string& v) { c.threads = static_cast<int>(parse_int("--threads", v, 1)); },
      false);
  p.flag(
      "--quiet", "print only the results and errors", [&c] { c.quiet = true; }, false);
}

ArgParser train_parser(TrainOptions& o) {
  ArgParser p(
      "cifar10 train [options]",
      "Trains VGG16 with a new head (Dense(hidden, relu) -> Dropout -> Dense(classes)) with\n"
      "Adam and softmax cross-entropy, as the Keras transfer-learning recipe does. Writes\n"
      "OUT/best.h5 (best val_loss), OUT/last.h5 (checkpoint for --resume),\n"
      "OUT/history.csv and the curves OUT/training.svg and .png, after every epoch.",
      "Learning rate: VGG16 has no batch norm; from random init it trains with Adam at 1e-4\n"
      "and is unstable at 1e-3. So the default lr is 1e-3 with a pretrained base and 1e-4\n"
      "with --weights none; --lr overrides.\n"
      "Data: a cifar-10-batches-bin directory, an image folder (DIR/<class>/<image>), a\n"
      "directory of MNIST-style IDX files, or 'fashion-mnist' (" +
          std::string("/usr/share/datasets/fashion-mnist") + ").");
  p.option("--data", "DIR", std::string("dataset (default ") + kDefaultCifarDir + ")",
           [&o](const std::string& v) { o.data = v; });
  p.option("--weights", "FILE|none",
           "VGG16 base weights (default weights/" + std::string(kNotopWeightsName) +
               ", else ~/.keras/models/); none: random init",
           [&o](const std::string& v) { o.weights = v; });
  p.flag("--fine-tune", "train the whole network (default: base frozen)",
         [&o] { o.fine_tune = true; });
  p.option("--unfreeze-from", "LAYER", "train from this layer on (e.g. block5_conv1)",
           [&o](const std::string& v) { o.unfreeze_from = v; });
  p.option("--epochs", "N", "epochs in all (default 25)",
           [&o](const std::string& v) { o.epochs = parse_int("--epochs", v, 1); });
  p.option("--batch-size", "N", "images per step (default 64)",
           [&o](const std::string& v) { o.batch_size = parse_int("--batch-size", v, 1); });
  p.option("--lr", "RATE", "Adam's learning rate (default 1e-3 pretrained, 1e-4 random init)",
           [&o](const std::string& v) { o.lr = parse_double("--lr", v, 1e-12, 10); });
  p.option("--val-split", "F",
           "hold out this fraction of train for validation (default 0.1; used when the data "
           "has no test split, or when given)",
           [&o](const std::string& v) {
             o.val_split = parse_double("--val-split", v, 0, 1, true);
             o.val_split_given = true;
           });
  p.option("--limit-train", "N", "use only the first N training images (after the split)",
           [&o](const std::string& v) { o.limit_train = parse_int("--limit-train", v, 1); });
  p.option("--limit-val", "N", "use only the first N validation images",
           [&o](const std::string& v) { o.limit_val = parse_int("--limit-val", v, 1); });
  p.option("--limit-test", "N", "use only the first N test images",
           [&o](const std::string& v) { o.limit_test = parse_int("--limit-test", v, 1); });
  p.option("--image-size", "N", "side images are resized to (default 32; >= 32)",
           [&o](const std::string& v) { o.image_size = parse_int("--image-size", v, 32); });
  p.option(
      "--out-dir", "DIR", "where checkpoints and history go (default models)",
      [&o](const std::string& v) { o.out_dir = v; }, false);
  p.flag("--no-augment", "no augmentation", [&o] { o.no_augment = true; });
  p.option("--rotation", "DEG", "random rotation range in degrees (default 15; 0 = off)",
           [&o](const std::string& v) { o.rotation = parse_double("--rotation", v, 0, 180); });
  p.option("--zoom", "F", "random zoom range (default 0.1; 0 = off)",
           [&o](const std::string& v) { o.zoom = parse_double("--zoom", v, 0, 1, true); });
  p.option("--shift", "F", "random width/height shift, fraction of the side (default 0.1)",
           [&o](const std::string& v) { o.shift = parse_double("--shift", v, 0, 1, true); });
  p.flag("--no-flip", "no random horizontal flips", [&o] { o.flip = false; });
  p.option("--patience", "N",
           "early stopping: epochs without val_loss improvement before stopping (default 5)",
           [&o](const std::string& v) { o.patience = parse_int("--patience", v, 0); });
  p.option("--min-delta", "D", "early stopping: smallest decrease that counts (default 0)",
           [&o](const std::string& v) { o.min_delta = parse_double("--min-delta", v, 0, 1e30); });
  p.flag("--no-early-stopping", "train all epochs", [&o] { o.early_stopping = false; });
  p.flag("--no-restore-best", "end with the last epoch's weights, not the best",
         [&o] { o.restore_best = false; });
  p.option("--hidden", "N", "units of the head's hidden Dense layer (default 256)",
           [&o](const std::string& v) { o.hidden = parse_int("--hidden", v, 1); });
  p.option("--dropout", "P", "dropout rate in the head (default 0.5)",
           [&o](const std::string& v) { o.dropout = parse_double("--dropout", v, 0, 1, true); });
  p.option("--keras-layout", "nested|flat",
           "how OUT/best.h5 holds the base, for Keras' load_weights: nested (default), as "
           "Sequential([VGG16(...), Flatten(), ...]) saves it; flat, as one functional model",
           [&o](const std::string& v) {
             if (v != "nested" && v != "flat") {
               throw UsageError("--keras-layout: expected nested or flat, got '" + v + "'");
             }
             o.keras_layout = v;
           });
  p.option("--save-format", "h5|weights.h5|keras",
           "the best model file: OUT/best.h5, Keras' legacy layout (default); "
           "OUT/best.weights.h5, Keras 3's weights; or OUT/best.keras, a whole Keras 3 model "
           "for keras.saving.load_model",
           [&o](const std::string& v) {
             if (v != "h5" && v != "weights.h5" && v != "keras") {
               throw UsageError("--save-format: expected h5, weights.h5 or keras, got '" + v + "'");
             }
             o.save_format = v;
           });
  p.flag(
      "--allow-nan",
      "train on when the loss or the weights go NaN or Inf (default: stop, exit status 3)",
      [&o] { o.allow_nan = true; }, false);
  p.flag(
      "--resume", "continue the run saved in OUT/last.h5 (its options are the defaults)",
      [&o] { o.resume = true; }, false);
  add_common(p, o.common);
  return p;
}

ArgParser evaluate_parser(EvaluateOptions& o) {
  ArgParser p("cifar10 evaluate --model FILE.h5 [--data DIR] [options]",
              "Prints loss, accuracy, per-class accuracy and the confusion matrix of a model file\n"
              "(one train wrote, or Keras' for the same architecture) on a dataset split.");
  p.option("--model", "FILE", "weights file (default models/best.h5)",
           [&o](const std::string& v) { o.model = v; });
  p.option("--data", "DIR", std::string("dataset, as for train (default ") + kDefaultCifarDir + ")",
           [&o](const std::string& v) { o.data = v; });
  p.option("--split", "NAME",
           "auto (test when present, else validation), test, val or train (default auto)",
           [&o](const std::string& v) {
             if (v != "auto" && v != "test" && v != "val" && v != "train") {
               throw UsageError("--split: expected auto, test, val or train, got '" + v + "'");
             }
             o.split = v;
           });
  p.option("--val-split", "F", "validation fraction, as in train (default: the model file's)",
           [&o](const std::string& v) {
             o.val_split = parse_double("--val-split", v, 0, 1, true);
             o.val_split_given = true;
           });
  p.option("--limit", "N", "use only the first N images of the split",
           [&o](const std::string& v) { o.limit = parse_int("--limit", v, 1); });
  p.option("--batch-size", "N", "images per forward pass (default 64)",
           [&o](const std::string& v) { o.batch_size = parse_int("--batch-size", v, 1); });
  p.option("--pictures", "PREFIX",
           "draw the confusion matrix to PREFIX.svg and PREFIX.png (default: confusion beside "
           "the model file; none: no pictures)",
           [&o](const std::string& v) { o.pictures = v; });
  add_common(p, o.common);
  return p;
}

ArgParser plot_parser(PlotOptions& o) {
  ArgParser p(
      "cifar10 plot HISTORY.csv [--out PREFIX] [--title TEXT]",
      "Draws the training curves of a history file (train's history.csv, also of a resumed\n"
      "run, or Keras' CSVLogger with the same columns) to PREFIX.svg and PREFIX.png.");
  p.option("--out", "PREFIX", "where to draw (default: training beside the history file)",
           [&o](const std::string& v) { o.out = v; });
  p.option("--title", "TEXT", "the picture's title (default: the history file's name)",
           [&o](const std::string& v) { o.title = v; });
  return p;
}

ArgParser predict_parser(PredictOptions& o) {
  ArgParser p("cifar10 predict --model FILE.h5 INPUT... [--out preds.csv]",
              "Classifies image files (JPEG, PNG; resized to the model's input) and CIFAR-10 .bin\n"
              "batch files. The CSV has one row per image: source,index,label,pred,p0,..., with\n"
              "label empty when unknown and p the softmax probabilities.");
  p.option("--model", "FILE", "weights file (default models/best.h5)",
           [&o](const std::string& v) { o.model = v; });
  p.option("--out", "FILE", "write the predictions as CSV",
           [&o](const std::string& v) { o.out = v; });
  p.option("--sheet", "FILE",
           "draw a contact sheet (FILE.png or .svg): each image with its top classes (the first "
           "100 images)",
           [&o](const std::string& v) {
             const auto ends = [&v](const std::string& s) {
               return v.size() >= s.size() && v.compare(v.size() - s.size(), s.size(), s) == 0;
             };
             if (!ends(".png") && !ends(".svg")) {
               throw UsageError("--sheet: expected a FILE ending in .png or .svg, got '" + v + "'");
             }
             o.sheet = v;
           });
  p.option("--top", "K", "classes printed per image file (default 3)",
           [&o](const std::string& v) { o.top = parse_int("--top", v, 1); });
  p.option("--batch-size", "N", "images per forward pass (default 64)",
           [&o](const std::string& v) { o.batch_size = parse_int("--batch-size", v, 1); });
  add_common(p, o.common);
  return p;
}

ArgParser export_parser(ExportOptions& o) {
  ArgParser p(
      "cifar10 export --model FILE.h5 --onnx OUT.onnx [--raw-input]",
      "Writes a model file (as predict loads it) as an ONNX model, opset 17: VGG16 base and\n"
      "head, softmax probabilities out, class names in the metadata. The input is float\n"
      "(N,3,H,W), preprocessed as Kiln feeds it, or with --raw-input uint8 (N,H,W,3) RGB.");
  p.option("--model", "FILE", "weights file (default models/best.h5)",
           [&o](const std::string& v) { o.model = v; });
  p.option("--onnx", "FILE", "the ONNX file to write (required)",
           [&o](const std::string& v) { o.onnx = v; });
  p.flag("--raw-input",
         "take uint8 RGB pixels (N,H,W,3) and do Keras' caffe preprocessing inside the graph",
         [&o] { o.raw_input = true; });
  add_common(p, o.common);
  return p;
}

void no_positionals(const std::vector<std::string>& positional) {
  if (!positional.empty()) throw UsageError("unexpected argument '" + positional[0] + "'");
}

}  // namespace

TrainOptions parse_train_options(const std::vector<std::string>& args) {
  TrainOptions o;
  no_positionals(train_parser(o).parse(args, o.common.help));
  if (!o.common.help && o.fine_tune && !o.unfreeze_from.empty()) {
    throw UsageError("--fine-tune and --unfreeze-from contradict each other; give one");
  }
  return o;
}

EvaluateOptions parse_evaluate_options(const std::vector<std::string>& args) {
  EvaluateOptions o;
  no_positionals(evaluate_parser(o).parse(args, o.common.help));
  return o;
}

PredictOptions parse_predict_options(const std::vector<std::string>& args) {
  PredictOptions o;
  o.inputs = predict_parser(o).parse(args, o.common.help);
  if (!o.common.help && o.inputs.empty()) {
    throw UsageError("predict needs at least one INPUT (image file or CIFAR-10 .bin file)");
  }
  return o;
}

PlotOptions parse_plot_options(const std::vector<std::string>& args) {
  PlotOptions o;
  const std::vector<std::string> positional = plot_parser(o).parse(args, o.help);
  if (o.help) return o;
  if (positional.size() != 1) {
    throw UsageError("plot needs exactly one HISTORY.csv, got " +
                     std::to_string(positional.size()) + " arguments");
  }
  o.history = positional[0];
  return o;
}

ExportOptions parse_export_options(const std::vector<std::string>& args) {
  ExportOptions o;
  no_positionals(export_parser(o).parse(args, o.common.help));
  if (!o.common.help && o.onnx.empty()) throw UsageError("export needs --onnx FILE");
  return o;
}

std::string train_usage() {
  TrainOptions o;
  return train_parser(o).usage();
}
std::string evaluate_usage() {
  EvaluateOptions o;
  return evaluate_parser(o).usage();
}
std::string predict_usage() {
  PredictOptions o;
  return predict_parser(o).usage();
}
std::string plot_usage() {
  PlotOptions o;
  return plot_parser(o).usage();
}

std::string export_usage() {
  ExportOptions o;
  return export_parser(o).usage();
}

std::string program_usage() {
  return "usage: cifar10 <command> [options]\n\n"
         "commands:\n"
         "  train      train VGG16 + a new head (Keras' transfer-learning recipe)\n"
         "  evaluate   loss, accuracy, per-class accuracy and confusion matrix of a model file\n"
         "  predict    classify image files or CIFAR-10 .bin files with a model file\n"
         "  plot       draw a history.csv's training curves (SVG, PNG)\n"
         "  export     write a model file as an ONNX model\n\n"
         "'cifar10 <command> --help' describes each command's options.\n";
}

std::vector<std::string> recordable_train_args(const std::vector<std::string>& args) {
  TrainOptions scratch;
  const ArgParser p = train_parser(scratch);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string name = args[i].substr(0, args[i].find('='));
    const OptionSpec* spec = p.find(name);
    const bool separate_value =
        spec != nullptr && !spec->metavar.empty() && args[i].find('=') == std::string::npos;
    const bool keep = spec == nullptr || spec->record;
    if (keep) out.push_back(args[i]);
    if (separate_value && i + 1 < args.size()) {
      ++i;
      if (keep) out.push_back(args[i]);
    }
  }
  return out;
}

}  // namespace kiln::app
