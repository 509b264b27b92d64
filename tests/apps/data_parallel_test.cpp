// cifar10 train as a data-parallel job: the built binary under `mpirun -np 2` (docs/distributed.md)
// on small CIFAR-10 files the tests write. Skipped, saying why, without mpirun or when the build
// has no MPI. Every job runs under `timeout`, so a hang fails the test instead of stalling CI.
// The ranks run with one OpenMP thread each: two of them share CI's cores.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "apps/cifar10/dataset_source.h"
#include "apps/cifar10/history.h"
#include "apps/cifar10/model_file.h"
#include "tests/apps/app_runner.h"

namespace kiln::test {
namespace {

namespace fs = std::filesystem;

constexpr int kTimeoutSeconds = 120;  // a job here takes a few seconds; a hang takes forever

// `mpirun <args>` in `dir`, where {cifar10} in args names the binary. Each rank's stdout is also
// kept on its own (rank_stdout), so a test can tell who printed. (Not --tag-output: it tags
// each chunk mpirun reads, which can begin in the middle of a line.)
AppRun run_mpirun(const TempFolder& dir, std::string args) {
  const std::string bin = "'" + cifar10_binary().path + "'";
  for (std::size_t at; (at = args.find("{cifar10}")) != std::string::npos;) {
    args.replace(at, 9, bin);
  }
  const std::string out = dir.file(".run/stdout"), err = dir.file(".run/stderr");
  // Open MPI keeps allocations until exit that LeakSanitizer would report as leaks (a sanitizer
  // build; tests/CMakeLists.txt says the same for dist_mpirun_np2).
  const std::string command = "cd '" + dir.str() + "' && HOME='" + dir.str() +
                              "' ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\"" +
                              " OMP_NUM_THREADS=1 timeout -k 10 " +
                              std::to_string(kTimeoutSeconds) +
                              " mpirun --allow-run-as-root --oversubscribe --bind-to none "
                              "--output-filename '" +
                              dir.str() + "/.ranks' " + args + " > '" + out + "' 2> '" + err + "'";
  return run_shell(command, out, err);
}

// What rank `rank` of the last job in `dir` printed on stdout (Open MPI keeps it in
// .ranks/<job>/rank.<rank>/stdout); "<none>" when there is no such file.
std::string rank_stdout(const TempFolder& dir, int rank) {
  std::error_code ec;
  for (const auto& job : fs::directory_iterator(dir.str() + "/.ranks", ec)) {
    const fs::path file = job.path() / ("rank." + std::to_string(rank)) / "stdout";
    if (fs::exists(file)) {
      const std::vector<std::uint8_t> b = read_bytes(file.string());
      return std::string(b.begin(), b.end());
    }
  }
  return "<none>";
}

// Why these tests cannot run here ("" when they can): asked once, of mpirun and of the binary.
const std::string& why_no_job() {
  static const std::string reason = []() -> std::string {
    if (std::system("command -v mpirun > /dev/null 2>&1") != 0) {
      return "no mpirun on this machine (Debian: openmpi-bin; scripts/setup installs it)";
    }
    if (cifar10_binary().path.empty()) return cifar10_binary().how;
    TempFolder probe;
    const AppRun run = run_mpirun(probe, "-np 2 {cifar10} help");
    if (run.status != 0 && run.err.find("has no MPI") != std::string::npos) {
      return "this build has no MPI (libopenmpi-dev was absent when it was configured)";
    }
    return "";
  }();
  return reason;
}

#define SKIP_WITHOUT_MPI()                                   \
  do {                                                       \
    if (!why_no_job().empty()) GTEST_SKIP() << why_no_job(); \
  } while (0)

std::string text_of(const std::string& path) {
  const std::vector<std::uint8_t> b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

// 16 training and 16 validation images (the test split serves as validation).
void write_small_cifar(const TempFolder& dir) {
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(16, 1));
  write_bytes(dir.file("data/test_batch.bin"), cifar_records(16, 2));
}

// No augmentation and no dropout: the runs of 1 and 2 ranks then compute the same terms.
constexpr const char* kExact =
    "train --data data --weights none --batch-size 8 --no-augment --dropout 0";

// sqrt(sum (a - b)^2) over every parameter of two models of the same architecture.
double distance(const Module& a, const Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  EXPECT_EQ(pa.size(), pb.size());
  double sum = 0;
  for (std::size_t i = 0; i < pa.size() && i < pb.size(); ++i) {
    const std::vector<float> x = pa[i].second.to_vector<float>(),
                             y = pb[i].second.to_vector<float>();
    for (std::size_t k = 0; k < x.size(); ++k) sum += (double(x[k]) - y[k]) * (double(x[k]) - y[k]);
  }
  return std::sqrt(sum);
}

TEST(Cifar10DataParallel, TwoRanksTrainTheWeightsOneRankTrains) {
  SKIP_WITHOUT_MPI();
  TempFolder dir;
  write_small_cifar(dir);
  // --fine-tune: all 14.7 M parameters, so the gradients go in many buckets, most of them
  // all-reduced while backward runs. One epoch of 16 images is two Adam steps.
  const std::string args = std::string(kExact) + " --fine-tune --epochs 1";
  const AppRun one = run_cifar10(dir, args + " --out-dir one");
  ASSERT_EQ(one.status, 0) << one.err;
  const AppRun two = run_mpirun(dir, "-np 2 {cifar10} " + args + " --out-dir two");
  ASSERT_EQ(two.status, 0) << two.err << two.out;
  EXPECT_CONTAINS(two.out, "batch 8 (4 on each of 2 processes)");

  const app::LoadedModel w1 = app::load_model_file(dir.file("one/last.h5"));
  const app::LoadedModel w2 = app::load_model_file(dir.file("two/last.h5"));
  Generator init = Generator(1337).derive(app::kInitStream);  // --seed's default, as train draws
  const std::shared_ptr<Sequential> w0 = app::build_classifier(w1.config, init);
  // The two runs sum the same per-image terms in another order (each rank's 4, then the two
  // halves, against 8 at once), so their gradients differ by float32 rounding, a relative 1e-6
  // or so, and Adam's steps, about lr * sign(gradient) early on, by as much. An element whose
  // gradient is rounding noise can step the other way in one run, which is what keeps the
  // bound above 1e-6: the difference stays below 1e-3 of how far training moved the weights
  // (measured: 5e-6). Training with another batch (4: other steps on other images) ends 1.4 of
  // that distance away, so the bound tells a right reduction from a wrong one.
  const double moved = distance(*w1.model, *w0);
  ASSERT_GT(moved, 0);
  const double apart = distance(*w1.model, *w2.model);
  std::printf("2 ranks vs 1: weights apart by %.3g of the %.3g training moved them\n",
              apart / moved, moved);
  EXPECT_LT(apart, 1e-3 * moved) << "moved " << moved << "; history 1 rank:\n"
                                 << text_of(dir.file("one/history.csv")) << "2 ranks:\n"
                                 << text_of(dir.file("two/history.csv"));
  // The reduced epoch figures (loss over the global batch, validation over both shards) agree
  // as closely: 1e-4 is far above their rounding, far below a shard's figures alone.
  const auto rows = [&](const std::string& file) {
    return app::parse_history(text_of(dir.file(file)), file);
  };
  const std::vector<app::EpochRecord> r1 = rows("one/history.csv"), r2 = rows("two/history.csv");
  ASSERT_EQ(r1.size(), 1u);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_NEAR(r1[0].loss, r2[0].loss, 1e-4);
  EXPECT_EQ(r1[0].accuracy, r2[0].accuracy);
  EXPECT_NEAR(r1[0].val_loss, r2[0].val_loss, 1e-4);
  EXPECT_EQ(r1[0].val_accuracy, r2[0].val_accuracy);
}

TEST(Cifar10DataParallel, EvaluateShardsTheImagesAndPrintsWhatOneProcessPrints) {
  SKIP_WITHOUT_MPI();
  TempFolder dir;
  write_small_cifar(dir);
  write_bytes(dir.file("data/test_batch.bin"), cifar_records(15, 2));  // 7 + 8 images a rank
  ASSERT_EQ(run_cifar10(dir, std::string(kExact) + " --epochs 1 --limit-train 8").status, 0);
  const AppRun one = run_cifar10(dir, "evaluate --data data --batch-size 4");
  ASSERT_EQ(one.status, 0) << one.err;
  const AppRun two = run_mpirun(dir, "-np 2 {cifar10} evaluate --data data --batch-size 4");
  ASSERT_EQ(two.status, 0) << two.err;
  // Loss to 4 decimals, accuracy, per-class counts and the confusion matrix, all reduced;
  // printed by rank 0 alone.
  EXPECT_EQ(two.out, one.out);
  EXPECT_EQ(rank_stdout(dir, 0), one.out);
  EXPECT_EQ(rank_stdout(dir, 1), "");
}

TEST(Cifar10DataParallel, RankZeroAloneWritesAndBothStopAtTheSameEpoch) {
  SKIP_WITHOUT_MPI();
  TempFolder dir;
  write_small_cifar(dir);
  fs::create_directories(dir.str() + "/r0");
  fs::create_directories(dir.str() + "/r1");
  // Each rank in its own working folder (one mpirun, two app contexts): whatever rank 1 wrote
  // would land in r1/. --min-delta 10: no epoch after the first improves, so patience 1 stops
  // the run after epoch 2 of 5. A rank that decided otherwise would go on alone into epoch 3's
  // all-reduces, or leave the job while the other waits in them: the job would hang or fail.
  const std::string train =
      std::string(kExact) + " --data ../data --epochs 5 --patience 1 --min-delta 10 --out-dir m";
  const AppRun run =
      run_mpirun(dir, "-np 1 -wdir r0 {cifar10} " + train + " : -np 1 -wdir r1 {cifar10} " + train);
  ASSERT_EQ(run.status, 0) << run.err << run.out;
  EXPECT_CONTAINS(run.out, "early stopping: val_loss has not improved for 1 epochs");
  EXPECT_EQ(lines_of(text_of(dir.file("r0/m/history.csv"))).size(), 3u);  // header, epochs 1-2
  EXPECT_TRUE(fs::exists(dir.file("r0/m/best.h5")));
  EXPECT_TRUE(fs::exists(dir.file("r0/m/last.h5")));
  EXPECT_TRUE(fs::is_empty(dir.str() + "/r1")) << "rank 1 wrote files";
  EXPECT_CONTAINS(rank_stdout(dir, 0), "epoch 2/5");
  EXPECT_EQ(rank_stdout(dir, 1), "");
  EXPECT_EQ(app::read_model_facts(dir.file("r0/m/last.h5"), nullptr)["world_size"], "2");

  // --resume with another process count is refused, naming both.
  const AppRun alone = run_cifar10(dir, "train --resume --out-dir r0/m");
  EXPECT_EQ(alone.status, 1);
  EXPECT_CONTAINS(alone.err, "was trained by 2 processes, this run is 1 process");
}

TEST(Cifar10DataParallel, ResumesWithTheSameProcessCount) {
  SKIP_WITHOUT_MPI();
  TempFolder dir;
  write_small_cifar(dir);
  const std::string train =
      "train --data data --weights none --batch-size 4 --limit-train 8 --limit-val 4 --no-augment ";
  AppRun run = run_mpirun(dir, "-np 2 {cifar10} " + train + "--epochs 1");
  ASSERT_EQ(run.status, 0) << run.err << run.out;
  // Every rank reads last.h5 and takes rank 0's weights, moments and its own dropout stream.
  run = run_mpirun(dir, "-np 2 {cifar10} train --resume --epochs 2");
  ASSERT_EQ(run.status, 0) << run.err << run.out;
  EXPECT_CONTAINS(run.out, "resumed from models/last.h5 at epoch 1 (optimiser step 2");
  EXPECT_EQ(lines_of(text_of(dir.file("models/history.csv"))).size(), 3u);
}

TEST(Cifar10DataParallel, AFailingRankEndsTheJobWithItsMessage) {
  SKIP_WITHOUT_MPI();
  TempFolder dir;
  write_small_cifar(dir);
  // Rank 1 alone is given a truncated batch file; rank 0 reads good data and then waits for
  // rank 1 in the first broadcast, which it must not do forever.
  write_bytes(dir.file("bad/data_batch_1.bin"), std::vector<std::uint8_t>(1000, 7));
  const std::string train = "train --weights none --batch-size 8 --epochs 1 --data ";
  const AppRun run =
      run_mpirun(dir, "-np 1 {cifar10} " + train + "data : -np 1 {cifar10} " + train + "bad");
  EXPECT_NE(run.status, 0);
  EXPECT_TRUE(run.status != 124 && run.status != 137) << "the job hung until timeout ended it";
  EXPECT_CONTAINS(run.err, "cifar10: rank 1 of 2: ");
  EXPECT_CONTAINS(run.err, "data_batch_1.bin");
  EXPECT_FALSE(fs::exists(dir.file("models/last.h5")));
}

TEST(Cifar10DataParallel, RefusesABatchSizeThatDoesNotDivide) {
  SKIP_WITHOUT_MPI();
  TempFolder dir;
  write_small_cifar(dir);
  const AppRun run = run_mpirun(dir,
                                "-np 2 {cifar10} train --data data --weights none "
                                "--batch-size 7 --epochs 1");
  EXPECT_EQ(run.status, 2);
  EXPECT_CONTAINS(run.err, "--batch-size 7 does not divide over the 2 processes");
  // Said once, by rank 0: every rank found the same mistake.
  const std::string said = "does not divide";
  EXPECT_EQ(run.err.find(said), run.err.rfind(said)) << run.err;
  EXPECT_FALSE(fs::exists(dir.file("models")));
}

}  // namespace
}  // namespace kiln::test
