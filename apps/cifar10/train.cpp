// cifar10 train: the Keras transfer-learning recipe (DESIGN.md, "Data flow of cifar10 train").
// Per epoch: shuffled, augmented batches through VGG16 + head, Adam steps; then validation,
// early stopping, best.h5 when val_loss improved, a history row, and the last.h5 checkpoint.
// Order of the writes at an epoch's end: best.h5, last.h5, history.csv, each atomic
// (weights/durable_file.h). last.h5 is the commit point: it carries the epoch's history row too,
// so a run killed (or out of disk) before history.csv is rewritten gets the row back on --resume,
// and one killed before last.h5 redoes the epoch; a failing save leaves the files after it as
// they were. A non-finite loss stops the run before its step is applied, and non-finite weights
// (from a non-finite gradient) before the epoch's saves, so no poisoned weights are ever saved
// (divergence.h).
// Under mpirun (apps/cifar10/distributed.h) every rank runs all of this on its shard of each
// global batch and of validation; gradients and figures are reduced, so every rank holds the
// same weights and takes the same decisions, and rank 0 alone prints and writes the files.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "apps/cifar10/commands.h"
#include "apps/cifar10/dataset_source.h"
#include "apps/cifar10/device.h"
#include "apps/cifar10/distributed.h"
#include "apps/cifar10/divergence.h"
#include "apps/cifar10/early_stopping.h"
#include "apps/cifar10/evaluate.h"
#include "apps/cifar10/history.h"
#include "apps/cifar10/model_file.h"
#include "apps/cifar10/pictures.h"
#include "apps/cifar10/progress.h"
#include "core/functions.h"
#include "data/gpu_input.h"
#include "data/loader.h"
#include "kernels/comm.h"
#include "kernels/conv2d.h"
#include "layers/dropout.h"
#include "optim/adam.h"
#include "optim/gradient_sync.h"
#include "weights/checkpoint.h"
#include "weights/durable_file.h"
#include "weights/model_weights.h"

namespace kiln::app {

namespace fs = std::filesystem;

namespace {

constexpr char kArgSeparator = '\x1f';  // between recorded arguments in a checkpoint note

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(1, sep) : "") + parts[i];
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find(sep, start)) != std::string::npos; start = end + 1) {
    out.push_back(text.substr(start, end - start));
  }
  out.push_back(text.substr(start));
  return out;
}

AugmentOptions augmentation(const TrainOptions& o) {
  AugmentOptions a;
  if (o.no_augment) return a;
  a.rotation_deg = o.rotation;
  a.width_shift = a.height_shift = o.shift;
  a.zoom = o.zoom;
  a.horizontal_flip = o.flip;
  return a;
}

std::string describe(const AugmentOptions& a) {
  if (!a.enabled()) return "none";
  return "rotation " + fmt("%g", a.rotation_deg) + ", zoom " + fmt("%g", a.zoom) + ", shift " +
         fmt("%g", a.width_shift) + (a.horizontal_flip ? ", flip" : ", no flip");
}

// The options a resumed run continues with: those its checkpoint recorded, then this command
// line's on top (so --epochs 30 extends a 25-epoch run).
TrainOptions resumed_options(const std::string& last_path, const std::vector<std::string>& args,
                             std::map<std::string, std::string>& facts) {
  std::error_code ec;
  KILN_CHECK(fs::exists(last_path, ec), "--resume: no checkpoint ", last_path,
             " (train without --resume first, or pass the run's --out-dir)");
  facts = read_model_facts(last_path, nullptr);
  std::vector<std::string> all = split(facts["args"], kArgSeparator);
  all.insert(all.end(), args.begin(), args.end());
  return parse_train_options(all);
}

struct EpochStats {
  double loss = 0, accuracy = 0, seconds = 0;
  std::int64_t images = 0;     // over the whole job
  double blocked_seconds = 0;  // of `seconds`, blocked in MPI (0 without mpirun)
};

// The checkpoint's name for rank r's dropout stream: rank 0's is the single-process one.
std::string dropout_stream_name(int rank) {
  return rank == 0 ? "dropout" : "dropout.rank" + std::to_string(rank);
}

// A checkpoint holds the job's size when it is not 1 (so single-process files are as before).
void check_resume_job_size(const std::map<std::string, std::string>& facts,
                           const std::string& last_path) {
  const auto it = facts.find("world_size");
  const int saved = it == facts.end() ? 1 : std::atoi(it->second.c_str());
  KILN_CHECK(saved == job_size(), "--resume: ", last_path, " was trained by ", saved,
             saved == 1 ? " process" : " processes", ", this run is ", describe_job(),
             "; resume with the same count (",
             saved == 1 ? "without mpirun" : "mpirun -np " + std::to_string(saved),
             "): a different count is not supported");
}

// Without --allow-nan the first non-finite value stops the run; with it, it is reported once and
// training goes on.
struct NanPolicy {
  bool allow = false;
  bool reported = false;
  void stop_or_warn(const std::string& what, Progress& progress) {
    if (!allow) throw TrainingDiverged("training diverged at " + what);
    progress.message("warning: " + what + "; training on (--allow-nan)");
    reported = true;
  }
};

// On the GPU (gpu != nullptr) the loader hands out pixels, and batch k+1 is staged (its upload
// queued) right after step k's work is queued and before step k's results are read, so the
// upload overlaps the step.
EpochStats train_one_epoch(Module& model, Adam& adam, GradientSync* sync, BatchLoader& loader,
                           GpuInput* gpu, std::int64_t epoch, std::int64_t epochs,
                           std::int64_t classes, Progress& progress, NanPolicy& nan) {
  const Clock::time_point start = Clock::now();
  const double blocked_before = kernels::comm::seconds_in_collectives();
  model.train();
  loader.start_epoch(epoch - 1);
  progress.start_epoch(epoch, epochs, loader.batch_count());
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0, batches = 0;
  std::optional<Batch> batch = loader.next();
  if (gpu && batch) gpu->stage(*batch);
  while (batch) {
    const Tensor images = gpu ? gpu->images(*batch) : on_compute_device(batch->images);
    const Tensor logits = model(images);
    const Tensor loss = softmax_cross_entropy(logits, on_compute_device(batch->labels));
    // Before backward and the step: a non-finite loss must not reach the weights.
    const std::string bad = nan.reported ? "" : non_finite_loss(model, images, loss);
    if (!bad.empty()) {
      nan.stop_or_warn("epoch " + std::to_string(epoch) + ", step " + std::to_string(batches + 1) +
                           " of " + std::to_string(loader.batch_count()) + ": " + bad,
                       progress);
    }
    const auto b = batch->labels.numel();
    adam.zero_grad();
    if (sync) {
      sync->backward(loss, b);  // loss.backward(), then the average over the job's global batch
    } else {
      loss.backward();
    }
    adam.step();
    std::optional<Batch> next = loader.next();
    if (gpu && next) gpu->stage(*next);
    const std::vector<std::int64_t> pred = argmax_rows(logits.to_vector<float>(), classes);
    const std::vector<std::int32_t> labels = batch->labels.to_vector<std::int32_t>();
    std::int64_t hits = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) hits += pred[i] == labels[i];
    // The global batch's figures, so the bar and history say the same at every N.
    double step[3] = {loss.item() * static_cast<double>(b), static_cast<double>(hits),
                      static_cast<double>(b)};
    sum_over_job(step, 3);
    loss_sum += step[0];
    correct += static_cast<std::int64_t>(step[1]);
    seen += static_cast<std::int64_t>(step[2]);
    progress.update(++batches, seen, loss_sum / static_cast<double>(seen),
                    static_cast<double>(correct) / static_cast<double>(seen));
    batch = std::move(next);
  }
  EpochStats s;
  s.images = seen;
  s.loss = loss_sum / static_cast<double>(seen);
  s.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
  s.seconds = seconds_since(start);
  s.blocked_seconds = kernels::comm::seconds_in_collectives() - blocked_before;
  return s;
}

// training.svg (and .png) after every epoch. A picture that cannot be drawn is a note, not the
// end of a run whose checkpoint is already safe.
void redraw_training_pictures(const fs::path& out_dir, const std::vector<EpochRecord>& rows,
                              TrainingFacts facts, std::int64_t stopped_epoch, Progress& progress) {
  facts.stopped_epoch = stopped_epoch;
  try {
    write_training_pictures((out_dir / "training").string(), rows, facts);
  } catch (const Error& e) {
    progress.message(std::string("note: the training pictures were not drawn: ") + e.what());
  }
}

}  // namespace

int run_train(const TrainOptions& cli, const std::vector<std::string>& args) {
  const Clock::time_point run_start = Clock::now();
  const fs::path out_dir(cli.out_dir);
  const std::string last_path = (out_dir / "last.h5").string();
  std::map<std::string, std::string> resumed_facts;
  const TrainOptions o = cli.resume ? resumed_options(last_path, args, resumed_facts) : cli;
  if (o.resume) check_resume_job_size(resumed_facts, last_path);
  check_batch_divides(o.batch_size);
  const std::string best_path = (out_dir / ("best." + o.save_format)).string();
  std::vector<std::string> recorded = split(resumed_facts["args"], kArgSeparator);
  for (const std::string& a : recordable_train_args(args)) recorded.push_back(a);
  // main applied this command line's --deterministic; a resumed run also takes its checkpoint's.
  if (o.common.deterministic) kernels::cuda::set_deterministic(true);
  // Under mpirun a rank's stdout is a pseudo-terminal whatever mpirun's own stdout is, so a job
  // logs plain lines; the other ranks print nothing.
  const ProgressStyle style = job_size() == 1 ? default_progress_style(o.common.quiet)
                              : job_root() && !o.common.quiet ? ProgressStyle::Lines
                                                              : ProgressStyle::Quiet;
  Progress progress(style);

  // Inputs first, cheapest checks first: nothing is written until they all load.
  check_data_source_exists(o.data);
  const std::string weights_path = o.resume ? "" : resolve_weights_path(o.weights);
  DataRequest request{o.data,        o.image_size,  o.val_split, o.val_split_given,
                      o.common.seed, o.limit_train, o.limit_val, o.limit_test};
  const DataParts parts = load_data_parts(request);
  const auto classes = static_cast<std::int64_t>(parts.class_names.size());
  progress.message("data: " + parts.description + ": " + std::to_string(parts.train.n) +
                   " train, " + std::to_string(parts.val.n) + " validation (" +
                   (parts.val_is_test ? "the test split" : "held out of train") + "), " +
                   std::to_string(parts.test.n) + " test; " + std::to_string(classes) + " classes");

  Generator init = Generator(o.common.seed).derive(kInitStream);
  const ModelConfig config{o.image_size, o.hidden, classes, o.dropout};
  const std::shared_ptr<Sequential> model = build_classifier(config, init);
  std::string weights_line = "VGG16 base: random init (--weights none)";
  if (o.resume) weights_line = "VGG16 base: from the checkpoint";
  if (!weights_path.empty())
    weights_line = "VGG16 base: " + load_base_weights(weights_path, *model);
  model->to(compute_device());  // before the optimiser makes its state beside the parameters
  const std::string trainable = set_trainable_layers(*model, o.fine_tune, o.unfreeze_from);
  AdamOptions adam_options;
  adam_options.lr = o.effective_lr();
  Adam adam(model->trainable_parameters(), adam_options);
  // Over what trains only: a frozen base has no gradients. Without a job there is none: its
  // backward would be loss.backward() anyway, and its buckets would hold a copy of the gradients.
  std::unique_ptr<GradientSync> sync;
  if (job_size() > 1) sync = std::make_unique<GradientSync>(adam.params());
  std::int64_t trainable_count = 0;
  for (const Tensor& p : adam.params()) trainable_count += p.numel();
  progress.message(weights_line);
  if (compute_device() == Device::CUDA) {
    const kernels::cuda::ConvEngine engine = kernels::cuda::conv_engine();
    const bool fixed = kernels::cuda::deterministic();
    progress.message(
        std::string("convolutions on the GPU: ") + kernels::cuda::to_string(engine) +
        (engine != kernels::cuda::ConvEngine::Auto ? " (--conv-engine)"
         : fixed ? " (Kiln's kernels wherever they can run a layer, else cuDNN; --conv-engine)"
                 : " (cuDNN or Kiln's kernels, the faster per layer shape; --conv-engine)") +
        (fixed ? "; deterministic (--deterministic)" : ""));
  }
  const std::string per_rank = job_size() == 1 ? ""
                                               : " (" + std::to_string(o.batch_size / job_size()) +
                                                     " on each of " + describe_job() + ")";
  progress.message("training " + trainable + ": " + std::to_string(trainable_count) +
                   " parameters; Adam lr " + fmt("%g", adam_options.lr) + ", batch " +
                   std::to_string(o.batch_size) + per_rank + ", augmentation " +
                   describe(augmentation(o)));

  EarlyStopping stopper(o.patience, o.min_delta);
  WeightSnapshot best_weights;
  const std::string history_path = (out_dir / "history.csv").string();
  History history(history_path, job_root());
  NanPolicy nan{o.allow_nan};
  Dropout& dropout = *model->layer<Dropout>("dropout");
  derive_rank_stream(dropout.generator());
  std::int64_t done = 0;  // epochs completed
  if (o.resume) {
    std::error_code ec;
    if (o.restore_best && fs::exists(best_path, ec)) {
      load_weights(best_path, *model);  // the best epoch's weights, to restore at the end
      best_weights.capture(*model);
    } else if (o.restore_best) {
      progress.message("note: no " + best_path + "; restoring the best weights covers only the " +
                       "epochs from here on");
    }
    const TrainingState state = load_checkpoint(last_path, *model, adam);
    adam.set_learning_rate(o.effective_lr());
    done = state.epoch;
    const std::int64_t best_epoch = std::atoll(resumed_facts["best_epoch"].c_str());
    stopper.restore(state.best_metric, best_epoch, state.epochs_without_improvement);
    for (const auto& [name, seed_offset] : state.rng_states) {
      if (name == dropout_stream_name(job_rank()))
        dropout.generator().set_state(seed_offset.first, seed_offset.second);
    }
    history.load(done, resumed_facts["history_row"]);
    progress.message("resumed from " + last_path + " at epoch " + std::to_string(done) +
                     " (optimiser step " + std::to_string(adam.step_count()) + ", best val_loss " +
                     fmt("%.4f", stopper.best()) + ")");
    if (done >= o.epochs) {
      if (job_root())
        std::printf("already trained %lld epochs (--epochs %lld): nothing to do\n",
                    static_cast<long long>(done), static_cast<long long>(o.epochs));
      return 0;
    }
    if (o.early_stopping && resumed_facts["stopped"] == "1" && stopper.wait() >= o.patience) {
      if (job_root())
        std::printf(
            "the run stopped early at epoch %lld (val_loss did not improve for %lld "
            "epochs): raise --patience or pass --no-early-stopping to train on\n",
            static_cast<long long>(done), static_cast<long long>(stopper.wait()));
      return 0;
    }
  }

  // Every rank starts from rank 0's weights and optimiser state, whatever it read itself.
  broadcast_parameters(*model);
  if (o.resume) broadcast_optimizer_state(adam);

  LoaderOptions loader_options;
  loader_options.batch_size = o.batch_size;
  loader_options.rank = job_rank();
  loader_options.world = job_size();
  loader_options.augment = augmentation(o);
  loader_options.seed = Generator(o.common.seed).derive(kLoaderStream).seed();
  // The GPU augments and preprocesses on the device what the CPU would (data/gpu_input.h).
  std::unique_ptr<GpuInput> gpu_input;
  if (compute_device() == Device::CUDA) {
    loader_options.form = BatchForm::Pixels;
    gpu_input = std::make_unique<GpuInput>(o.batch_size, static_cast<int>(parts.train.h),
                                           static_cast<int>(parts.train.w));
  }
  BatchLoader loader(parts.train, loader_options);
  if (job_root()) {
    fs::create_directories(out_dir);
    // Temporaries a killed run left (each writer also does this before it writes).
    for (const std::string& p :
         {best_path, last_path, history_path, (out_dir / "training.svg").string(),
          (out_dir / "training.png").string()}) {
      remove_stale_temporaries(p);
    }
  }

  std::map<std::string, std::string> facts{{"image_size", std::to_string(o.image_size)},
                                           {"seed", std::to_string(o.common.seed)},
                                           {"val_split", fmt("%.17g", o.val_split)},
                                           {"data", o.data}};
  const TrainingFacts picture_facts{"VGG16 transfer learning on " + parts.description,
                                    "training " + trainable + ", Adam lr " +
                                        fmt("%g", adam_options.lr) + ", batch " +
                                        std::to_string(o.batch_size),
                                    device_name(compute_device()), 0};
  bool stopped = false;
  double train_seconds = 0, blocked_seconds = 0;
  for (std::int64_t epoch = done + 1; epoch <= o.epochs && !stopped; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    EpochStats stats;
    try {
      stats = train_one_epoch(*model, adam, sync.get(), loader, gpu_input.get(), epoch, o.epochs,
                              classes, progress, nan);
      train_seconds += stats.seconds;
      blocked_seconds += stats.blocked_seconds;
      // A finite last loss can still have come with a non-finite gradient: never save its step.
      const std::string bad = nan.reported ? "" : non_finite_weights(*model);
      if (!bad.empty())
        nan.stop_or_warn("the end of epoch " + std::to_string(epoch) + ": " + bad, progress);
    } catch (const TrainingDiverged& e) {
      throw TrainingDiverged(std::string(e.what()) + "; nothing saved from this epoch, " +
                             (epoch > 1 ? last_path + " holds epoch " + std::to_string(epoch - 1)
                                        : std::string("no checkpoint yet")) +
                             " (lower --lr, or --allow-nan to train on)");
    }
    const Evaluation val = evaluate_dataset(*model, parts.val, o.batch_size, classes);
    const EarlyStopping::Verdict verdict = stopper.on_epoch_end(epoch, val.loss);
    stopped = o.early_stopping && verdict.stop;
    EpochRecord row{epoch,
                    stats.loss,
                    stats.accuracy,
                    val.loss,
                    val.accuracy,
                    adam.learning_rate(),
                    seconds_since(epoch_start),
                    stats.images / stats.seconds};

    if (verdict.improved && job_root()) {
      facts["epoch"] = std::to_string(epoch);
      facts["val_loss"] = fmt("%.6f", val.loss);
      facts["val_accuracy"] = fmt("%.6f", val.accuracy);
      save_model_file(best_path, *model, parts.class_names, facts,
                      o.keras_layout == "flat" ? KerasLayout::Flat : KerasLayout::Nested);
    }
    if (o.restore_best && (verdict.improved || best_weights.empty())) best_weights.capture(*model);
    TrainingState state;
    state.epoch = epoch;
    state.best_metric = stopper.best_epoch() > 0 ? stopper.best() : std::nan("");
    state.epochs_without_improvement = stopper.wait();
    const auto streams = gather_states(dropout.generator());
    for (int r = 0; r < job_size(); ++r) {
      state.rng_states.emplace_back(dropout_stream_name(r), streams[static_cast<std::size_t>(r)]);
    }
    state.notes = {{"args", join(recorded, kArgSeparator)},
                   {"class_names", join(parts.class_names, '\n')},
                   {"best_epoch", std::to_string(stopper.best_epoch())},
                   {"stopped", stopped ? "1" : "0"},
                   {"history_row", format_history_row(row)}};
    for (const auto& [key, value] : facts) {
      if (key == "image_size" || key == "seed" || key == "val_split" || key == "data") {
        state.notes.emplace_back(key, value);
      }
    }
    if (job_size() > 1) state.notes.emplace_back("world_size", std::to_string(job_size()));
    if (job_root()) save_checkpoint(last_path, *model, adam, state);
    history.append(row);
    if (job_root()) {
      redraw_training_pictures(out_dir, history.rows(), picture_facts, stopped ? epoch : 0,
                               progress);
    }

    progress.end_epoch("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs) +
                       "  loss " + fmt("%.4f", row.loss) + "  accuracy " +
                       fmt("%.4f", row.accuracy) + "  val_loss " + fmt("%.4f", row.val_loss) +
                       "  val_accuracy " + fmt("%.4f", row.val_accuracy) + "  " +
                       fmt("%.0fs", row.seconds) + "  " + fmt("%.1f img/s", row.images_per_second) +
                       (verdict.improved ? "  (saved " + best_path + ")" : ""));
    if (stopped) {
      progress.message("early stopping: val_loss has not improved for " +
                       std::to_string(stopper.wait()) + " epochs (patience " +
                       std::to_string(o.patience) + ")");
    }
  }

  const std::int64_t last_epoch = history.rows().empty() ? 0 : history.rows().back().epoch;
  if (o.restore_best && !best_weights.empty() && stopper.best_epoch() != last_epoch) {
    best_weights.restore(*model);
    progress.message("restored the weights of epoch " + std::to_string(stopper.best_epoch()) +
                     " (best val_loss " + fmt("%.4f", stopper.best()) + ")");
  }
  double best_val_accuracy = std::nan("");
  for (const EpochRecord& r : history.rows()) {
    if (r.epoch == stopper.best_epoch()) best_val_accuracy = r.val_accuracy;
  }
  if (job_size() > 1) {
    progress.message("data parallel over " + describe_job() + ": rank 0 spent " +
                     fmt("%.1f s", blocked_seconds) + " of " + fmt("%.1f s", train_seconds) +
                     " of training blocked in MPI (" +
                     fmt("%.0f%%", train_seconds > 0 ? 100 * blocked_seconds / train_seconds : 0) +
                     ": gradient all-reduce and waiting for the other ranks)");
  }
  if (job_root()) {
    std::printf("done in %s: best val_loss %.4f, val_accuracy %.4f at epoch %lld; model %s\n",
                format_duration(seconds_since(run_start)).c_str(), stopper.best(),
                best_val_accuracy, static_cast<long long>(stopper.best_epoch()), best_path.c_str());
  }
  if (!parts.test.empty()) {
    const Evaluation test = evaluate_dataset(*model, parts.test, o.batch_size, classes);
    if (job_root())
      std::printf("test: loss %.4f, accuracy %.4f (%lld images)\n", test.loss, test.accuracy,
                  static_cast<long long>(test.n));
  }
  return 0;
}

}  // namespace kiln::app
