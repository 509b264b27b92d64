#include "optim/optimizer.h"

#include "core/autograd.h"

namespace kiln {

Optimizer::Optimizer(std::vector<Tensor> params, double learning_rate)
    : params_(std::move(params)) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    KILN_CHECK(params_[i].defined() && params_[i].is_leaf(), "Optimizer: parameter ", i,
               " is not a leaf tensor");
    for (std::size_t j = 0; j < i; ++j) {
      KILN_CHECK(!params_[i].same(params_[j]), "Optimizer: parameter ", i, " ", params_[i].shape(),
                 " is listed twice (it would be updated twice per step)");
    }
  }
  set_learning_rate(learning_rate);
}

void Optimizer::set_learning_rate(double lr) {
  KILN_CHECK(lr >= 0, "Optimizer: learning rate must be non-negative, got ", lr);
  learning_rate_ = lr;
}

void Optimizer::set_step_count(std::int64_t steps) {
  KILN_CHECK(steps >= 0, "Optimizer: step count must be non-negative, got ", steps);
  step_count_ = steps;
}

void Optimizer::step() {
  NoGradGuard no_grad;  // updates are not part of any graph
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    KILN_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
               "Optimizer: gradient ", g.shape(), " ", g.dtype(), " on ", g.device(),
               " does not match parameter ", i, " ", p.shape(), " ", p.dtype(), " on ", p.device());
    ready.push_back(i);
  }
  update_all(ready);
  ++step_count_;
}

void Optimizer::update_all(const std::vector<std::size_t>& ready) {
  for (std::size_t i : ready) update(i, params_[i], params_[i].grad());
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

}  // namespace kiln
