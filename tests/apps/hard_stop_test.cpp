// Hard stops during cifar10 train's saves (README, "Reliability"): kill -9 at random moments,
// biased toward the moments a save is under way, and a file-size limit that makes a save fail.
// After each, best.h5, last.h5 and history.csv must each be absent, the previous complete version
// or the new complete one, read by Kiln's own readers, and --resume must go on from there.
// KILN_KILL_TESTS sets the number of kills (default 10); KILN_KILL_SEED repeats a run's moments.
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "apps/cifar10/history.h"
#include "apps/cifar10/model_file.h"
#include "apps/cifar10/text_file.h"
#include "data/image_decode.h"
#include "optim/adam.h"
#include "tests/apps/child_process.h"
#include "weights/checkpoint.h"

namespace kiln::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kStepsPerEpoch = 2;  // 16 training images, batch 8
const char* const kOutputs[] = {"best.h5", "last.h5", "history.csv"};

// Learnable tiny data: validation is the training set, so val_loss keeps falling and best.h5 is
// rewritten nearly every epoch, as last.h5 and history.csv are.
void write_tiny_cifar(const TempFolder& dir) {
  const std::vector<std::uint8_t> records = cifar_records(16, 7);
  write_bytes(dir.file("data/data_batch_1.bin"), records);
  write_bytes(dir.file("data/test_batch.bin"), records);
}

const std::vector<std::string> kTrain = {"train",     "--data",       "data",
                                         "--weights", "none",         "--batch-size",
                                         "8",         "--no-augment", "--no-early-stopping"};

std::vector<std::string> train_args(std::vector<std::string> more) {
  std::vector<std::string> args = kTrain;
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The folder's names, less the training pictures (check_pictures reads those; their
// temporaries are listed).
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name != "training.svg" && name != "training.png") out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_temporary(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

// The training pictures, rewritten after every epoch like the rest: each whole or absent.
void check_pictures(const std::string& out_dir) {
  const std::string svg = out_dir + "/training.svg", png = out_dir + "/training.png";
  if (fs::exists(svg)) {
    const std::string text = text_file(svg);
    EXPECT_EQ(text.rfind("<?xml", 0), 0u) << "training.svg is not whole";
    EXPECT_TRUE(text.size() > 7 && text.substr(text.size() - 7) == "</svg>\n")
        << "training.svg is not whole";
  }
  if (fs::exists(png)) {
    try {
      EXPECT_GT(decode_image(png).w, 0);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "training.png does not decode: " << e.what();
    }
  }
}

// What the outputs hold, read back the way train and evaluate read them.
struct Saved {
  std::int64_t last_epoch = 0;             // 0: no last.h5
  std::vector<std::string> history_lines;  // data rows, epoch 1 first
};

// The model and optimiser a checkpoint of these runs loads into (head only trains).
struct CheckpointReader {
  CheckpointReader() : model(build()), adam(model->trainable_parameters(), AdamOptions{}) {}
  static std::shared_ptr<Sequential> build() {
    Generator init(1);
    auto m = app::build_classifier(app::ModelConfig{}, init);
    app::set_trainable_layers(*m, false, "");
    return m;
  }
  std::shared_ptr<Sequential> model;
  Adam adam;
};

// Checks the outputs against the rules in the header; `before` is what the last check saw.
Saved check_outputs(const std::string& out_dir, const Saved& before, CheckpointReader& reader) {
  check_pictures(out_dir);
  Saved now;
  const std::string last = out_dir + "/last.h5", best = out_dir + "/best.h5",
                    history = out_dir + "/history.csv";
  std::int64_t best_epoch_noted = 0;
  if (fs::exists(last)) {
    try {
      const TrainingState state = load_checkpoint(last, *reader.model, reader.adam);
      now.last_epoch = state.epoch;
      EXPECT_EQ(reader.adam.step_count(), state.epoch * kStepsPerEpoch);
      for (const auto& [key, value] : state.notes) {
        if (key == "best_epoch") best_epoch_noted = std::atoll(value.c_str());
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "last.h5 does not load: " << e.what();
    }
  }
  EXPECT_GE(now.last_epoch, before.last_epoch) << "last.h5 went back in time";
  if (fs::exists(best)) {
    try {
      const app::LoadedModel loaded = app::load_model_file(best);
      const std::int64_t epoch = std::atoll(loaded.facts.at("epoch").c_str());
      // best.h5 is written first at an epoch's end: at most one epoch ahead of last.h5.
      EXPECT_GE(epoch, std::max<std::int64_t>(best_epoch_noted, 1));
      EXPECT_LE(epoch, now.last_epoch + 1);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "best.h5 does not load: " << e.what();
    }
  } else {
    EXPECT_EQ(now.last_epoch, 0) << "last.h5 without best.h5 (epoch 1 always saves it)";
  }
  if (fs::exists(history)) {
    const std::string text = text_file(history);
    const std::vector<std::string> lines = lines_of(text);
    EXPECT_TRUE(!lines.empty() && lines[0] == app::kHistoryHeader) << text;
    try {
      const std::vector<app::EpochRecord> rows = app::parse_history(text, history);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i].epoch, static_cast<std::int64_t>(i + 1)) << text;
      }
      // Written after last.h5: equal to its epoch, or one behind (the row is then in last.h5).
      EXPECT_TRUE(static_cast<std::int64_t>(rows.size()) == now.last_epoch ||
                  static_cast<std::int64_t>(rows.size()) + 1 == now.last_epoch)
          << rows.size() << " rows, last.h5 at epoch " << now.last_epoch;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "history.csv does not parse: " << e.what();
    }
    now.history_lines.assign(lines.begin() + (lines.empty() ? 0 : 1), lines.end());
  } else {
    EXPECT_LE(now.last_epoch, 1) << "no history.csv after epoch " << now.last_epoch;
  }
  // A finished epoch's row never changes, whatever was killed since.
  for (std::size_t i = 0; i < std::min(now.history_lines.size(), before.history_lines.size());
       ++i) {
    EXPECT_EQ(now.history_lines[i], before.history_lines[i]) << "row " << i + 1 << " changed";
  }
  if (now.history_lines.size() < before.history_lines.size())
    now.history_lines = before.history_lines;
  return now;
}

// Half the kills wait for a save's temporary (of one output, or of any) and strike 0-30 ms after
// it appears; the others strike at a random moment of the run's first six seconds. Returns -1
// when the moment has come, else the status the child ended with by itself.
int wait_for_a_kill_moment(const Child& child, const std::string& out_dir, std::mt19937& rng) {
  const bool at_save = rng() % 2 == 0;
  const std::string target = (rng() % 4 == 3) ? "" : kOutputs[rng() % 3];
  const std::string own = ".tmp-" + std::to_string(child.pid);
  const auto delay =
      std::chrono::microseconds(at_save ? (rng() % 3 == 0 ? 0 : rng() % 30000) : rng() % 6000000);
  const Clock::time_point started = Clock::now();
  int status = -1;
  while ((status = wait_child(child, false)) < 0) {
    if (!at_save && Clock::now() - started >= delay) break;
    bool seen = false;
    for (const std::string& name : at_save ? names_in(out_dir) : std::vector<std::string>{}) {
      seen = seen || (name.find(own) != std::string::npos &&
                      (target.empty() || name.rfind(target + ".tmp-", 0) == 0));
    }
    if (seen) {
      std::this_thread::sleep_for(delay);
      break;
    }
    if (Clock::now() - started > std::chrono::seconds(120)) {
      ADD_FAILURE() << "no save within 120 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return status;
}

int kill_count() {
  const char* n = std::getenv("KILN_KILL_TESTS");
  return n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : 10;
}

TEST(HardStop, KillNineAtRandomMomentsNeverLeavesABrokenOutput) {
  TempFolder dir;
  write_tiny_cifar(dir);
  const std::string out_dir = dir.file("models");
  fs::create_directories(out_dir);
  const char* seed_env = std::getenv("KILN_KILL_SEED");
  const unsigned seed =
      seed_env != nullptr ? static_cast<unsigned>(std::atoll(seed_env)) : std::random_device{}();
  std::printf("kill -9 test: %d kills, KILN_KILL_SEED=%u\n", kill_count(), seed);
  std::mt19937 rng(seed);
  CheckpointReader reader;
  Saved saved;
  int kills = 0, at_temporary = 0, resumes_checked = 0, leftovers = 0;
  std::set<std::string> killed;  // ".tmp-<pid>" of each killed run
  std::map<std::string, int> temporaries_at_kill;
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < kill_count(); ++i) {
    SCOPED_TRACE("kill " + std::to_string(i + 1) + " (KILN_KILL_SEED=" + std::to_string(seed) +
                 ")");
    const bool resume = fs::exists(out_dir + "/last.h5");
    const Child child = spawn_cifar10(
        dir,
        resume ? std::vector<std::string>{"train", "--resume"} : train_args({"--epochs", "100000"}),
        "kill-" + std::to_string(i));
    ASSERT_GT(child.pid, 0);
    const int status = wait_for_a_kill_moment(child, out_dir, rng);
    ASSERT_EQ(status, -1) << "cifar10 ended by itself: " << text_file(child.err);
    ::kill(child.pid, SIGKILL);
    ASSERT_EQ(wait_child(child), 128 + SIGKILL);
    ++kills;
    killed.insert(".tmp-" + std::to_string(child.pid));

    std::vector<std::string> names = names_in(out_dir);
    for (const std::string& name : names) {
      if (!is_temporary(name)) {
        EXPECT_TRUE(name == "best.h5" || name == "last.h5" || name == "history.csv") << name;
        continue;
      }
      // Only killed runs' temporaries may be left (a run killed before its first save has not
      // cleared its predecessors' yet); the final run must remove them all.
      EXPECT_EQ(killed.count(name.substr(name.find(".tmp-"))), 1u) << name;
      if (name.find(".tmp-" + std::to_string(child.pid)) != std::string::npos) {
        ++temporaries_at_kill[name.substr(0, name.find(".tmp-"))];
        ++leftovers;
      }
    }
    const std::string own = ".tmp-" + std::to_string(child.pid);
    at_temporary += std::any_of(names.begin(), names.end(), [&](const std::string& n) {
      return n.find(own) != std::string::npos;
    });
    // A resumed run said where it resumed: the epoch of the last.h5 the previous kill left.
    const std::string out = text_file(child.out);
    const std::size_t said = out.find("resumed from models/last.h5 at epoch ");
    if (resume && said != std::string::npos) {
      EXPECT_EQ(std::atoll(out.c_str() + said + 37), saved.last_epoch) << out;
      ++resumes_checked;
    }
    saved = check_outputs(out_dir, saved, reader);
    if (::testing::Test::HasFailure()) break;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Finally a run that ends by itself: one more epoch from wherever the kills left it.
  const std::int64_t target = saved.last_epoch + 1;
  const Child last = spawn_cifar10(
      dir,
      saved.last_epoch > 0
          ? std::vector<std::string>{"train", "--resume", "--epochs", std::to_string(target)}
          : train_args({"--epochs", "1"}),
      "final");
  ASSERT_EQ(wait_child(last), 0) << text_file(last.err);
  if (saved.last_epoch > 0) {
    EXPECT_CONTAINS(text_file(last.out),
                    "resumed from models/last.h5 at epoch " + std::to_string(saved.last_epoch));
  }
  const Saved final_state = check_outputs(out_dir, saved, reader);
  EXPECT_EQ(final_state.last_epoch, target);
  EXPECT_EQ(static_cast<std::int64_t>(final_state.history_lines.size()), target);
  EXPECT_EQ(names_in(out_dir), (std::vector<std::string>{"best.h5", "history.csv", "last.h5"}))
      << "temporaries left behind";
  EXPECT_TRUE(fs::exists(out_dir + "/training.svg"));
  std::printf(
      "kill -9 test: %d kills in %.0f s, %d of them during a save (its temporary there: best.h5 "
      "%d, last.h5 %d, history.csv %d; %d temporaries in all, removed by later runs), %d resumes "
      "checked; reached epoch %lld\n",
      kills, seconds, at_temporary, temporaries_at_kill["best.h5"], temporaries_at_kill["last.h5"],
      temporaries_at_kill["history.csv"], leftovers, resumes_checked,
      static_cast<long long>(target));
}

// Bytes of each output, to compare after a failed save.
std::map<std::string, std::vector<std::uint8_t>> output_bytes(const std::string& out_dir) {
  std::map<std::string, std::vector<std::uint8_t>> out;
  for (const char* name : kOutputs) out[name] = read_bytes(out_dir + "/" + name);
  return out;
}

// A resumed run under a file-size limit: exit 1, one line naming `culprit`, no temporary.
void expect_failed_save(const TempFolder& dir, rlim_t limit, const std::string& culprit,
                        const std::string& tag) {
  const Child child = spawn_cifar10(dir, {"train", "--resume", "--epochs", "2"}, tag, limit);
  ASSERT_EQ(wait_child(child), 1) << text_file(child.err);
  const std::vector<std::string> lines = lines_of(text_file(child.err));
  ASSERT_EQ(lines.size(), 1u) << text_file(child.err);
  EXPECT_EQ(lines[0].rfind("cifar10: models/" + culprit + ": cannot save: ", 0), 0u) << lines[0];
  EXPECT_CONTAINS(lines[0], "File too large");
  EXPECT_EQ(names_in(dir.file("models")),
            (std::vector<std::string>{"best.h5", "history.csv", "last.h5"}));
}

TEST(HardStop, AFullDiskFailsTheSaveWithOneLineAndKeepsThePreviousFiles) {
  TempFolder dir;
  write_tiny_cifar(dir);
  const AppRun first = run_cifar10(dir,
                                   "train --data data --weights none --epochs 1 "
                                   "--batch-size 8 --no-augment --no-early-stopping");
  ASSERT_EQ(first.status, 0) << first.err;
  const std::string out_dir = dir.file("models");
  const auto before = output_bytes(out_dir);

  // 1 MiB: the first file of epoch 2's save (best.h5, as val_loss falls) cannot be written.
  expect_failed_save(dir, 1 << 20, "best.h5", "full-1");
  EXPECT_TRUE(output_bytes(out_dir) == before) << "an output changed";

  // Room for best.h5 but not for last.h5 (the head's Adam moments make it ~1 MiB larger): best.h5
  // is the new complete epoch 2, last.h5 and history.csv stay epoch 1's, byte for byte.
  const auto best_size = static_cast<rlim_t>(fs::file_size(out_dir + "/best.h5"));
  expect_failed_save(dir, best_size + (256 << 10), "last.h5", "full-2");
  const auto after = output_bytes(out_dir);
  EXPECT_EQ(after.at("last.h5"), before.at("last.h5"));
  EXPECT_EQ(after.at("history.csv"), before.at("history.csv"));
  EXPECT_EQ(app::load_model_file(out_dir + "/best.h5").facts.at("epoch"), "2");

  // With room again, --resume redoes epoch 2 from last.h5.
  const AppRun again = run_cifar10(dir, "train --resume --epochs 2");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_CONTAINS(again.out, "resumed from models/last.h5 at epoch 1");
  EXPECT_EQ(lines_of(text_file(out_dir + "/history.csv")).size(), 3u);
}

// A run killed (or out of room) after last.h5 and before history.csv: the resumed run gets the
// epoch's row back from the checkpoint, and drops rows past it.
TEST(HardStop, ResumeRestoresTheCheckpointsHistoryRow) {
  TempFolder dir;
  const std::string path = dir.file("models/history.csv");
  const app::EpochRecord one{1, 2.3, 0.1, 2.2, 0.15, 1e-4, 12.5, 40.25},
      two{2, 1.9, 0.3, 1.8, 0.35, 1e-4, 11.0, 41.0}, three{3, 1.5, 0.4, 1.6, 0.45, 1e-4, 11, 41};
  app::write_text_atomically(path, app::format_history({one}));
  app::History history(path);
  history.load(2, app::format_history_row(two));
  ASSERT_EQ(history.rows().size(), 2u);
  EXPECT_EQ(text_file(path), app::format_history({one, two}));  // rewritten at once
  history.load(2, app::format_history_row(two));                // already there: unchanged
  EXPECT_EQ(history.rows().size(), 2u);
  app::write_text_atomically(path, app::format_history({one, two, three}));
  history.load(2, app::format_history_row(two));
  EXPECT_EQ(history.rows().size(), 2u);
  history.load(3, "");  // a checkpoint from before rows were kept in it
  EXPECT_EQ(history.rows().size(), 3u);
}

// history.csv is too small to hit a real limit before the .h5 files do, so its writer is run
// directly, in a child limited to 100 bytes per file.
TEST(HardStop, AFullDiskFailsATextSaveAndKeepsThePreviousFile) {
  TempFolder dir;
  const std::string path = dir.file("models/history.csv");
  app::write_text_atomically(path, "the previous version\n");
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {  // the message goes back through a pipe: a file would be limited too
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{100, 100};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      app::write_text_atomically(path, std::string(1000, 'x'));
    } catch (const std::exception& e) {
      const std::string what = e.what();
      ::_exit(::write(pipe_fds[1], what.data(), what.size()) > 0 ? 0 : 2);
    }
    ::_exit(1);
  }
  ::close(pipe_fds[1]);
  std::string said;
  char buf[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) said.append(buf, n);
  ::close(pipe_fds[0]);
  int raw = 0;
  ::waitpid(pid, &raw, 0);
  ASSERT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << "the write did not fail: " << raw;
  EXPECT_EQ(said, path + ": cannot save: File too large (writing " + path + ".tmp-" +
                      std::to_string(pid) + ")");
  EXPECT_EQ(text_file(path), "the previous version\n");
  EXPECT_EQ(names_in(dir.file("models")), std::vector<std::string>{"history.csv"});
}

}  // namespace
}  // namespace kiln::test
