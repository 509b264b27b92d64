// Early stopping on a loss (val_loss), with Keras' EarlyStopping semantics (mode "min"):
//   - improvement: current < best - min_delta (Keras negates min_delta for mode "min" and tests
//     current - min_delta < best with the negated value); NaN never improves; best starts at +inf;
//   - each epoch without improvement adds one to `wait`; an improvement resets it to 0;
//   - training stops when wait >= patience, never after the first epoch (Keras' `epoch > 0`), so
//     patience 0 stops at the first epoch that does not improve;
//   - restore_best_weights: the weights of the best epoch are kept (the first epoch's when none
//     improved) and put back when training ends, stopped early or not (Keras 3's on_train_end).
// The same improvement test decides when best.h5 is rewritten (ModelCheckpoint save_best_only),
// so best.h5 always holds the weights that restore-best puts back.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"

namespace kiln::app {

class EarlyStopping {
 public:
  struct Verdict {
    bool improved = false;  // a new best: save best.h5 and keep these weights
    bool stop = false;      // patience is spent
  };

  EarlyStopping(std::int64_t patience, double min_delta);

  // Call once per epoch (1-based) with the monitored value.
  Verdict on_epoch_end(std::int64_t epoch, double current);

  double best() const { return best_; }                    // +inf until an improvement
  std::int64_t best_epoch() const { return best_epoch_; }  // 0 until an improvement
  std::int64_t wait() const { return wait_; }
  bool improves(double current) const { return current < best_ - min_delta_; }

  // A checkpoint's state (resume).
  void restore(double best, std::int64_t best_epoch, std::int64_t wait);

 private:
  std::int64_t patience_;
  double min_delta_;
  double best_ = std::numeric_limits<double>::infinity();
  std::int64_t best_epoch_ = 0;
  std::int64_t wait_ = 0;
};

// A copy of a model's parameter values, to put back later (restore_best_weights).
class WeightSnapshot {
 public:
  bool empty() const { return values_.empty(); }
  void capture(const Module& model);
  void restore(Module& model) const;  // the model must be the one captured (same parameters)

 private:
  std::vector<Tensor> values_;  // clones, in Module::state() order (parameters and buffers)
};

}  // namespace kiln::app
