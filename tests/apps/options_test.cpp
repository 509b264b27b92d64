// The cifar10 argument parser and history.csv, without running the binary.
#include "apps/cifar10/options.h"

#include <gtest/gtest.h>

#include "apps/cifar10/history.h"
#include "base/error.h"

namespace kiln::app {
namespace {

TEST(TrainOptions, DefaultsFollowTheKerasRecipe) {
  const TrainOptions o = parse_train_options({});
  EXPECT_EQ(o.data, "data/cifar-10-batches-bin");
  EXPECT_EQ(o.epochs, 25);
  EXPECT_EQ(o.batch_size, 64);
  EXPECT_EQ(o.hidden, 256);
  EXPECT_EQ(o.dropout, 0.5);
  EXPECT_EQ(o.effective_lr(), 1e-3);
  EXPECT_FALSE(o.fine_tune);
  EXPECT_EQ(o.common.device, "auto");  // the GPU when there is one
}

TEST(TrainOptions, LearningRateDependsOnTheWeightsUnlessGiven) {
  EXPECT_EQ(parse_train_options({"--weights", "none"}).effective_lr(), 1e-4);
  EXPECT_EQ(parse_train_options({"--weights=none", "--lr=0.01"}).effective_lr(), 0.01);
}

TEST(TrainOptions, ParsesValuesAndFlags) {
  const TrainOptions o = parse_train_options(
      {"--epochs", "3", "--no-flip", "--rotation=0", "--val-split", "0.2", "--unfreeze-from",
       "block5_conv1", "--limit-train", "100", "--seed", "9"});
  EXPECT_EQ(o.epochs, 3);
  EXPECT_FALSE(o.flip);
  EXPECT_EQ(o.rotation, 0);
  EXPECT_TRUE(o.val_split_given);
  EXPECT_EQ(o.unfreeze_from, "block5_conv1");
  EXPECT_EQ(o.limit_train, 100);
  EXPECT_EQ(o.common.seed, 9u);
}

TEST(TrainOptions, MistakesAreUsageErrorsNamingTheOption) {
  const auto message = [](const std::vector<std::string>& args) -> std::string {
    try {
      parse_train_options(args);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message({"--bogus"}), "unknown option '--bogus'");
  EXPECT_NE(message({"--epochs"}).find("--epochs needs a value"), std::string::npos);
  EXPECT_NE(message({"--epochs", "0"}).find("--epochs"), std::string::npos);
  EXPECT_NE(message({"--val-split", "1"}).find("--val-split"), std::string::npos);
  EXPECT_NE(message({"--fine-tune", "--unfreeze-from", "x"}).find("contradict"), std::string::npos);
  EXPECT_NE(message({"extra"}).find("'extra'"), std::string::npos);
}

TEST(TrainOptions, HelpStopsParsing) {
  EXPECT_TRUE(parse_train_options({"--help", "--bogus"}).common.help);
  EXPECT_NE(train_usage().find("1e-4"), std::string::npos);  // the learning-rate note
}

TEST(TrainOptions, ResumeRecordsAllButPerInvocationOptions) {
  EXPECT_EQ(recordable_train_args({"--resume", "--epochs", "3", "--threads", "2", "--quiet",
                                   "--out-dir=x", "--data", "d", "--device", "cpu", "--conv-engine",
                                   "kiln"}),
            (std::vector<std::string>{"--epochs", "3", "--data", "d"}));
}

TEST(CommonOptions, ConvEngineIsParsedForEveryCommand) {
  using kernels::cuda::ConvEngine;
  const TrainOptions defaults = parse_train_options({});
  EXPECT_FALSE(defaults.common.conv_engine_given);  // the process's setting (auto) stands
  EXPECT_EQ(defaults.common.conv_engine, ConvEngine::Auto);
  const TrainOptions t = parse_train_options({"--device", "cuda", "--conv-engine", "kiln"});
  EXPECT_TRUE(t.common.conv_engine_given);
  EXPECT_EQ(t.common.conv_engine, ConvEngine::Kiln);
  EXPECT_EQ(parse_evaluate_options({"--conv-engine=cudnn"}).common.conv_engine, ConvEngine::CuDNN);
  EXPECT_EQ(parse_predict_options({"--conv-engine", "auto", "x.png"}).common.conv_engine,
            ConvEngine::Auto);
  EXPECT_NE(train_usage().find("--conv-engine auto|cudnn|kiln"), std::string::npos);
}

TEST(CommonOptions, BadConvEngineIsAUsageErrorNamingTheFlagAndTheChoices) {
  const auto message = [](const std::vector<std::string>& args) -> std::string {
    try {
      parse_evaluate_options(args);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message({"--conv-engine", "cublas"}),
            "--conv-engine: expected auto, cudnn or kiln, got 'cublas'");
  EXPECT_EQ(message({"--conv-engine="}), "--conv-engine: expected auto, cudnn or kiln, got ''");
  EXPECT_NE(message({"--conv-engine"}).find("--conv-engine needs a value (auto|cudnn|kiln)"),
            std::string::npos);
}

TEST(CommonOptions, DeterministicIsAFlagOfEveryCommand) {
  EXPECT_FALSE(parse_train_options({}).common.deterministic);  // the process's setting stands
  EXPECT_TRUE(parse_train_options({"--deterministic"}).common.deterministic);
  EXPECT_TRUE(parse_evaluate_options({"--deterministic"}).common.deterministic);
  EXPECT_TRUE(parse_predict_options({"x.png", "--deterministic"}).common.deterministic);
  EXPECT_NE(train_usage().find("--deterministic"), std::string::npos);
  EXPECT_NE(predict_usage().find("KILN_DETERMINISTIC"), std::string::npos);
  try {
    parse_train_options({"--deterministic=1"});
    ADD_FAILURE() << "--deterministic=1 parsed";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--deterministic takes no value");
  }
}

// --deterministic is recorded in the checkpoint, so a resumed run stays deterministic even when
// its command line does not repeat the flag: train replays the recorded arguments first.
TEST(TrainOptions, ResumeReplaysDeterministic) {
  const std::vector<std::string> first_run{
      "--epochs", "2", "--deterministic", "--device", "cuda", "--conv-engine", "auto"};
  const std::vector<std::string> recorded = recordable_train_args(first_run);
  EXPECT_EQ(recorded, (std::vector<std::string>{"--epochs", "2", "--deterministic"}));
  std::vector<std::string> resumed = recorded;  // what --resume parses: recorded, then the new
  for (const char* a : {"--resume", "--epochs", "4"}) resumed.emplace_back(a);
  const TrainOptions o = parse_train_options(resumed);
  EXPECT_TRUE(o.common.deterministic);
  EXPECT_TRUE(o.resume);
  EXPECT_EQ(o.epochs, 4);
  // A run without the flag records nothing of it, and its resume stays non-deterministic.
  EXPECT_FALSE(parse_train_options(recordable_train_args({"--epochs", "2"})).common.deterministic);
}

TEST(History, FormatsAndParsesRows) {
  const std::vector<EpochRecord> rows{{1, 2.3, 0.1, 2.2, 0.15, 1e-4, 12.5, 40.25},
                                      {2, 1.9, 0.3, 1.8, 0.35, 1e-4, 11.0, 41.0}};
  const std::string text = format_history(rows);
  EXPECT_EQ(text.substr(0, text.find('\n')), kHistoryHeader);
  const std::vector<EpochRecord> back = parse_history(text, "h.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_DOUBLE_EQ(back[1].val_accuracy, 0.35);
  EXPECT_DOUBLE_EQ(back[0].images_per_second, 40.25);
  EXPECT_THROW(parse_history("epoch\n1,2,x\n", "h.csv"), kiln::Error);
}

// Regression (found while fuzzing the reader, fuzz/history_fuzz.cpp): the epoch column was cast
// to an integer unchecked, undefined behaviour for 1e300 or nan (UBSan: float-cast-overflow).
TEST(History, EpochThatIsNotAWholeNumberIsAnError) {
  for (const char* epoch : {"1e300", "nan", "-inf", "-1", "2.5"}) {
    const std::string text = std::string("epoch\n") + epoch + ",1,1,1,1,1,1,1\n";
    try {
      parse_history(text, "h.csv");
      ADD_FAILURE() << "no error for epoch " << epoch;
    } catch (const kiln::Error& e) {
      EXPECT_NE(std::string(e.what()).find("h.csv: line 2: epoch"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace kiln::app
