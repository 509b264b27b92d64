// Optimizer: updates a fixed list of parameters in place from their gradients.
// A parameter whose gradient is undefined (frozen, or not reached by the last backward) is
// skipped: its value and its optimiser state stay as they were. The step count is global, as
// Keras' `iterations`: it advances once per step() whichever parameters were updated.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln {

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double learning_rate);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, then step_count() + 1.
  void step();
  // Drops every parameter's gradient; the next backward writes fresh ones.
  void zero_grad();

  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double lr);
  // Steps taken so far; a checkpoint restores it with set_step_count.
  std::int64_t step_count() const { return step_count_; }
  void set_step_count(std::int64_t steps);
  const std::vector<Tensor>& params() const { return params_; }

  // What a checkpoint saves of any optimiser (weights/checkpoint.cpp), told by the optimiser
  // itself: its kind ("adam"), the options a resumed run must share, and the state it keeps per
  // parameter, its "slots" (Adam's m and v), each undefined until the parameter's first update.
  virtual std::string kind() const = 0;
  virtual std::vector<std::pair<std::string, double>> resume_options() const = 0;
  virtual std::vector<std::string> slot_names() const = 0;
  // params()[i]'s slots, in slot_names() order.
  virtual std::vector<Tensor> slots(std::size_t i) const = 0;
  // Restores them (same order; the optimiser checks shapes, dtypes and which may be undefined).
  virtual void set_slots(std::size_t i, const std::vector<Tensor>& values) = 0;

 protected:
  // Updates params()[index] from grad (same shape, dtype and device, checked), for step
  // t = step_count() + 1.
  virtual void update(std::size_t index, Tensor& param, const Tensor& grad) = 0;
  // Updates every params()[i] for i in `ready` (those with a checked gradient). The default calls
  // update() for each; an optimiser may fuse them (Adam on CUDA: one launch for all tensors).
  virtual void update_all(const std::vector<std::size_t>& ready);

 private:
  std::vector<Tensor> params_;
  double learning_rate_;
  std::int64_t step_count_ = 0;
};

}  // namespace kiln
