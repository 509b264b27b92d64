#include "apps/cifar10/early_stopping.h"

#include <cmath>

#include "core/autograd.h"

namespace kiln::app {

EarlyStopping::EarlyStopping(std::int64_t patience, double min_delta)
    : patience_(patience), min_delta_(std::fabs(min_delta)) {
  KILN_CHECK(patience >= 0, "early stopping: patience must be >= 0, got ", patience);
}

EarlyStopping::Verdict EarlyStopping::on_epoch_end(std::int64_t epoch, double current) {
  Verdict v;
  ++wait_;
  if (improves(current)) {  // NOTE: false for NaN, as every comparison with NaN is
    best_ = current;
    best_epoch_ = epoch;
    wait_ = 0;
    v.improved = true;
    return v;
  }
  v.stop = wait_ >= patience_ && epoch > 1;
  return v;
}

void EarlyStopping::restore(double best, std::int64_t best_epoch, std::int64_t wait) {
  best_ = std::isnan(best) ? std::numeric_limits<double>::infinity() : best;
  best_epoch_ = best_epoch;
  wait_ = wait;
}

void WeightSnapshot::capture(const Module& model) {
  values_.clear();
  for (const Tensor& t : model.state()) values_.push_back(t.detach().clone());
}

void WeightSnapshot::restore(Module& model) const {
  std::vector<Tensor> state = model.state();
  KILN_CHECK(state.size() == values_.size(), "restore best weights: the model has ", state.size(),
             " parameters and buffers, the snapshot ", values_.size());
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < state.size(); ++i) state[i].copy_from(values_[i]);
}

}  // namespace kiln::app
