// Adam with Keras' semantics by default (KERAS-FORMATS.md section 4), PyTorch's epsilon on
// request, and decoupled weight decay (AdamW). The arithmetic lives in kernels/optim.h; this
// class keeps the moments and folds the step count into AdamScalars.
#pragma once

#include <vector>

#include "kernels/optim.h"
#include "optim/optimizer.h"

namespace kiln {

// Keras: theta -= a * m / (sqrt(v) + eps). PyTorch: eps inside the bias correction, i.e.
// theta -= a * m / (sqrt(v) + eps * sqrt(1 - beta2^t)). Same update for eps_keras =
// eps_torch * sqrt(1 - beta2^t); the difference shows only while v is tiny.
enum class EpsilonPlacement { Keras, PyTorch };

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-7;  // Keras' default; PyTorch's is 1e-8
  EpsilonPlacement epsilon_placement = EpsilonPlacement::Keras;
  double weight_decay = 0;  // decoupled (AdamW): theta -= lr * weight_decay * theta
};

class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, const AdamOptions& options = {});

  const AdamOptions& options() const { return options_; }
  // The scalars the kernel gets at step t (1-based), with the current learning rate.
  kernels::AdamScalars scalars(std::int64_t t) const;

  // Moments of params()[i], same shape and dtype; undefined until its first update (zeros are
  // implied, so a parameter first updated late behaves as in Keras).
  const Tensor& first_moment(std::size_t i) const { return m_.at(i); }   // m
  const Tensor& second_moment(std::size_t i) const { return v_.at(i); }  // v
  // Restores a checkpoint's moments (undefined for "not yet updated").
  void set_moments(std::size_t i, const Tensor& m, const Tensor& v);

  std::string kind() const override { return "adam"; }
  std::vector<std::pair<std::string, double>> resume_options() const override;
  std::vector<std::string> slot_names() const override { return {"m", "v"}; }
  std::vector<Tensor> slots(std::size_t i) const override { return {m_.at(i), v_.at(i)}; }
  void set_slots(std::size_t i, const std::vector<Tensor>& values) override;

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;
  void update_all(const std::vector<std::size_t>& ready) override;

 private:
  AdamOptions options_;
  void ensure_moments(std::size_t i);
  std::vector<Tensor> m_;  // per parameter: its shape, or undefined
  std::vector<Tensor> v_;  // per parameter: its shape, or undefined
};

}  // namespace kiln
