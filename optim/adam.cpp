#include "optim/adam.h"

#include <cmath>

#include "core/dispatch.h"

namespace kiln {

namespace kk = kernels;

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  KILN_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
             "Adam: betas must be in [0, 1), got ", options.beta1, " and ", options.beta2);
  KILN_CHECK(options.eps >= 0 && options.weight_decay >= 0,
             "Adam: eps and weight_decay must be non-negative, got ", options.eps, " and ",
             options.weight_decay);
  m_.resize(this->params().size());
  v_.resize(this->params().size());
}

kk::AdamScalars Adam::scalars(std::int64_t t) const {
  const double lr = learning_rate(), td = static_cast<double>(t);
  const double correction2 = std::sqrt(1 - std::pow(options_.beta2, td));
  const double correction1 = 1 - std::pow(options_.beta1, td);
  kk::AdamScalars s;
  s.beta1 = options_.beta1;
  s.beta2 = options_.beta2;
  s.step_size = lr * correction2 / correction1;
  s.eps_hat = options_.epsilon_placement == EpsilonPlacement::Keras ? options_.eps
                                                                    : options_.eps * correction2;
  s.decay = lr * options_.weight_decay;
  return s;
}

void Adam::set_moments(std::size_t i, const Tensor& m, const Tensor& v) {
  KILN_CHECK(i < params().size(), "Adam: no parameter ", i, " (", params().size(), " in all)");
  const Tensor& p = params()[i];
  for (const Tensor* t : {&m, &v}) {
    KILN_CHECK(!t->defined() || (t->shape() == p.shape() && t->dtype() == p.dtype()),
               "Adam: moment ", t->shape(), " does not match parameter ", i, " ", p.shape(), " ",
               p.dtype());
  }
  KILN_CHECK(m.defined() == v.defined(), "Adam: restore both moments of parameter ", i,
             " or neither");
  m_[i] = m.defined() ? m.to(p.device()) : Tensor();
  v_[i] = v.defined() ? v.to(p.device()) : Tensor();
}

void Adam::update(std::size_t i, Tensor& param, const Tensor& grad) {
  if (param.device() != Device::CPU) no_kernel("adam", param);
  if (!m_[i].defined()) {
    m_[i] = Tensor::zeros(param.shape(), param.dtype(), param.device());
    v_[i] = Tensor::zeros(param.shape(), param.dtype(), param.device());
  }
  KILN_CHECK(m_[i].dtype() == param.dtype(), "Adam: parameter ", i, " is now ", param.dtype(),
             " but its moments are ", m_[i].dtype(), " (convert the model before the optimiser)");
  const kk::AdamScalars s = scalars(step_count() + 1);
  Tensor &m = m_[i], &v = v_[i];
  dispatch_cpu(
      "adam", param,
      [&] {
        kk::cpu::adam_update_fast(param.numel(), s, grad.data<float>(), m.data<float>(),
                                  v.data<float>(), param.data<float>());
      },
      [&](auto t) {
        using T = decltype(t);
        kk::cpu::adam_update_reference<T>(param.numel(), s, grad.data<T>(), m.data<T>(),
                                          v.data<T>(), param.data<T>());
      });
}

}  // namespace kiln
