// cifar10 on broken inputs: each run must fail with exit status 1 (2 for usage errors) and ONE
// line on stderr, "cifar10: ..." naming the culprit, and must leave earlier outputs alone: every
// test starts from a models/ folder holding sentinel best.h5 and history.csv files.
#include <gtest/gtest.h>

#include "kernels/device_memory.h"
#include "tests/apps/app_runner.h"
#include "tests/support/cuda_skip.h"

namespace kiln::test {
namespace {

constexpr const char* kSentinel = "sentinel: an earlier run's file\n";

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(dir.file("models/best.h5"), kSentinel);
    write_text(dir.file("models/history.csv"), kSentinel);
  }

  // Runs cifar10 and checks the failure: status, one line naming `culprit`, sentinels intact.
  void expect_failure(const std::string& args, const std::string& culprit, int status = 1) {
    SCOPED_TRACE("cifar10 " + args);
    const AppRun run = run_cifar10(dir, args);
    EXPECT_EQ(run.status, status) << run.err;
    const std::vector<std::string> lines = lines_of(run.err);
    ASSERT_EQ(lines.size(), 1u) << "stderr:\n" << run.err;
    EXPECT_EQ(lines[0].rfind("cifar10: ", 0), 0u) << lines[0];
    EXPECT_CONTAINS(lines[0], culprit);
    for (const char* f : {"models/best.h5", "models/history.csv"}) {
      const std::vector<std::uint8_t> b = read_bytes(dir.file(f));
      EXPECT_EQ(std::string(b.begin(), b.end()), kSentinel) << f << " was overwritten";
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("models/last.h5")));
  }

  // A train command on `data` that would otherwise run.
  static std::string train(const std::string& data) {
    return "train --weights none --epochs 1 --batch-size 8 --data " + data;
  }

  TempFolder dir;
};

TEST_F(BadInput, TruncatedCifarBatch) {
  std::vector<std::uint8_t> bytes = cifar_records(20, 1);
  bytes.resize(bytes.size() - 1000);
  write_bytes(dir.file("data/data_batch_1.bin"), bytes);
  expect_failure(train("data"), "data_batch_1.bin");
}

TEST_F(BadInput, CifarBatchOfTheWrongSize) {
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(20, 1));
  write_bytes(dir.file("data/test_batch.bin"), std::vector<std::uint8_t>(5000, 7));
  expect_failure(train("data"), "test_batch.bin");
}

TEST_F(BadInput, CifarLabelAboveNine) {
  std::vector<std::uint8_t> bytes = cifar_records(20, 1);
  bytes[5 * 3073] = 12;
  write_bytes(dir.file("data/data_batch_1.bin"), bytes);
  expect_failure(train("data"), "data_batch_1.bin");
}

TEST_F(BadInput, IdxWithABadMagic) {
  const std::vector<std::uint8_t> labels{0, 0, 8, 1, 0, 0, 0, 1, 3};
  write_bytes(dir.file("idx/train-images-idx3-ubyte"),
              {8, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9});
  write_bytes(dir.file("idx/train-labels-idx1-ubyte"), labels);
  expect_failure(train("idx"), "train-images-idx3-ubyte");
}

TEST_F(BadInput, CorruptGzip) {
  std::vector<std::uint8_t> gz = gzip_bytes(std::vector<std::uint8_t>(4000, 1));
  for (std::size_t i = 12; i < gz.size(); ++i) gz[i] ^= 0x5a;
  write_bytes(dir.file("idx/train-images-idx3-ubyte.gz"), gz);
  write_bytes(dir.file("idx/train-labels-idx1-ubyte"), {0, 0, 8, 1, 0, 0, 0, 1, 3});
  expect_failure(train("idx"), "train-images-idx3-ubyte.gz");
}

TEST_F(BadInput, EmptyImageFolder) {
  std::filesystem::create_directories(dir.file("pics"));
  expect_failure(train("pics"), "pics");
}

TEST_F(BadInput, NonImageFileInAnImageFolder) {
  write_color_png(dir.file("pics/a/1.png"), 32, 32, 10, 20, 30, 1);
  write_color_png(dir.file("pics/b/1.png"), 32, 32, 30, 20, 10, 2);
  write_text(dir.file("pics/b/notes.png"), "not a picture at all");
  expect_failure(train("pics"), "notes.png");
}

TEST_F(BadInput, GarbageWeightsFile) {
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(20, 1));
  write_text(dir.file("garbage.h5"), "this is not an HDF5 file, only text pretending to be one");
  expect_failure("train --data data --epochs 1 --weights garbage.h5", "garbage.h5");
}

TEST_F(BadInput, MissingDataDirectory) { expect_failure(train("no/such/dir"), "no/such/dir"); }

TEST_F(BadInput, MissingDefaultWeightsSaysWhereTheyComeFrom) {
  write_bytes(dir.file("data/data_batch_1.bin"), cifar_records(20, 1));
  // HOME points into the test folder, so a real ~/.keras/models/ cannot satisfy it.
  expect_failure("train --data data --epochs 1", "scripts/fetch-data");
}

TEST_F(BadInput, GarbageModelFileForPredictAndEvaluate) {
  write_bytes(dir.file("data/test_batch.bin"), cifar_records(4, 1));
  write_text(dir.file("model.h5"), "garbage");
  expect_failure("predict --model model.h5 data/test_batch.bin --out models/history.csv",
                 "model.h5");
  expect_failure("evaluate --model model.h5 --data data", "model.h5");
  expect_failure("predict --model models/missing.h5 data/test_batch.bin", "missing.h5");
}

TEST_F(BadInput, CudaWithoutADeviceSaysWhy) {
  KILN_SKIP_WITH_CUDA("--device cuda works");
  expect_failure("train --device cuda", "CUDA", 1);
  expect_failure("train --device gpu", "--device", 2);
}

TEST_F(BadInput, TheDeviceIsTheFirstLineEvenWhenTheCommandFails) {
  const AppRun run = run_cifar10(dir, "evaluate --device cpu --model missing.h5");
  EXPECT_EQ(run.status, 1);
  ASSERT_FALSE(run.out.empty());
  EXPECT_EQ(lines_of(run.out).at(0), "device: cpu");
  EXPECT_CONTAINS(run.err, "missing.h5");
}

TEST_F(BadInput, UsageErrorsExitWithTwo) {
  expect_failure("train --no-such-option", "--no-such-option", 2);
  expect_failure("train --epochs zero", "--epochs", 2);
  expect_failure("fly", "fly", 2);
  expect_failure("predict --model models/best.h5", "INPUT", 2);
  expect_failure("train --device cuda --conv-engine fastest",
                 "--conv-engine: expected auto, cudnn or kiln, got 'fastest'", 2);
}

}  // namespace
}  // namespace kiln::test
