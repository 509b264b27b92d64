// EarlyStopping against Keras' EarlyStopping(monitor="val_loss", mode="min"): the verdicts of a
// scripted val_loss sequence, worked out by hand from keras/callbacks/early_stopping.py.
#include "apps/cifar10/early_stopping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/random.h"
#include "layers/dense.h"

namespace kiln::app {
namespace {

// The epoch (1-based) at which training stops for these losses, or 0 when it never does.
std::int64_t stop_epoch(EarlyStopping& es, const std::vector<double>& losses) {
  for (std::size_t i = 0; i < losses.size(); ++i) {
    if (es.on_epoch_end(static_cast<std::int64_t>(i + 1), losses[i]).stop) {
      return static_cast<std::int64_t>(i + 1);
    }
  }
  return 0;
}

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  EarlyStopping es(2, 0);
  EXPECT_EQ(stop_epoch(es, {1.0, 0.8, 0.9, 0.85, 0.7}), 4);  // 0.9 and 0.85 are not below 0.8
  EXPECT_EQ(es.best(), 0.8);
  EXPECT_EQ(es.best_epoch(), 2);
  EXPECT_EQ(es.wait(), 2);
}

TEST(EarlyStopping, AnImprovementResetsTheCount) {
  EarlyStopping es(2, 0);
  EXPECT_EQ(stop_epoch(es, {1.0, 1.1, 0.9, 1.0, 0.8, 0.85}), 0);
  EXPECT_EQ(es.best_epoch(), 5);
  EXPECT_EQ(es.wait(), 1);
}

TEST(EarlyStopping, PatienceZeroStopsAtTheFirstEpochWithoutImprovement) {
  EarlyStopping es(0, 0);
  EXPECT_EQ(stop_epoch(es, {1.0, 0.9, 0.95}), 3);
}

TEST(EarlyStopping, NeverStopsAfterTheFirstEpoch) {
  // Keras: `if self.wait >= self.patience and epoch > 0`; a NaN first loss does not stop.
  EarlyStopping es(0, 0);
  EXPECT_FALSE(es.on_epoch_end(1, std::nan("")).stop);
  EXPECT_EQ(es.best_epoch(), 0);
  EXPECT_TRUE(std::isinf(es.best()));
}

TEST(EarlyStopping, MinDeltaIsTheSmallestDecreaseThatCounts) {
  // Keras negates min_delta for mode "min": improvement is current + 0.1 < best.
  EarlyStopping es(1, 0.1);
  EarlyStopping::Verdict v = es.on_epoch_end(1, 1.0);
  EXPECT_TRUE(v.improved);
  v = es.on_epoch_end(2, 0.95);  // better, but by less than min_delta
  EXPECT_FALSE(v.improved);
  EXPECT_TRUE(v.stop);
  EXPECT_EQ(es.best(), 1.0);
  EarlyStopping again(1, 0.1);
  again.on_epoch_end(1, 1.0);
  EXPECT_TRUE(again.on_epoch_end(2, 0.85).improved);
}

TEST(EarlyStopping, NanNeverImproves) {
  EarlyStopping es(5, 0);
  es.on_epoch_end(1, 1.0);
  EXPECT_FALSE(es.on_epoch_end(2, std::nan("")).improved);
  EXPECT_FALSE(es.on_epoch_end(3, std::numeric_limits<double>::infinity()).improved);
  EXPECT_EQ(es.wait(), 2);
}

TEST(EarlyStopping, RestoredStateContinuesTheCount) {
  EarlyStopping es(3, 0);
  es.restore(0.5, 4, 2);  // a checkpoint after epoch 6: best 0.5 at epoch 4
  EXPECT_TRUE(es.on_epoch_end(7, 0.6).stop);
  EarlyStopping fresh(3, 0);
  fresh.restore(std::nan(""), 0, 0);  // "no best yet" as checkpoints store it
  EXPECT_TRUE(fresh.on_epoch_end(1, 3.0).improved);
}

TEST(WeightSnapshot, RestoresTheCapturedValues) {
  Generator gen(7);
  Dense layer("dense", 3, 2, Activation::None, gen);
  WeightSnapshot best;
  EXPECT_TRUE(best.empty());
  best.capture(layer);
  const std::vector<double> kernel = layer.kernel().to_double_vector();
  Tensor k = layer.kernel();
  k.fill(5.0);  // training moves on
  best.restore(layer);
  EXPECT_EQ(layer.kernel().to_double_vector(), kernel);
  EXPECT_TRUE(layer.kernel().same(k));  // in place: optimisers keep their handles
}

}  // namespace
}  // namespace kiln::app
