// SGD with optional (Nesterov) momentum, PyTorch's form (kernels/optim.h), and decoupled weight
// decay: theta -= lr * weight_decay * theta before the gradient step.
#pragma once

#include <vector>

#include "kernels/optim.h"
#include "optim/optimizer.h"

namespace kiln {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0;
  bool nesterov = false;
  double weight_decay = 0;
};

class Sgd : public Optimizer {
 public:
  explicit Sgd(std::vector<Tensor> params, const SgdOptions& options = {});

  const SgdOptions& options() const { return options_; }
  kernels::SgdScalars scalars() const;  // with the current learning rate

  // Momentum buffer of params()[i]; undefined without momentum or before its first update.
  const Tensor& momentum_buffer(std::size_t i) const { return buffers_.at(i); }
  void set_momentum_buffer(std::size_t i, const Tensor& buffer);

  std::string kind() const override { return "sgd"; }
  std::vector<std::pair<std::string, double>> resume_options() const override;
  std::vector<std::string> slot_names() const override { return {"momentum"}; }
  std::vector<Tensor> slots(std::size_t i) const override { return {buffers_.at(i)}; }
  void set_slots(std::size_t i, const std::vector<Tensor>& values) override;

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;

 private:
  SgdOptions options_;
  std::vector<Tensor> buffers_;  // per parameter: its shape, or undefined
};

}  // namespace kiln
