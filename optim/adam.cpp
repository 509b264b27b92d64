#include "optim/adam.h"

#include <cmath>

#include "core/dispatch.h"
#include "kernels/cuda_build.h"

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

std::vector<std::pair<std::string, double>> Adam::resume_options() const {
  return {{"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"eps", options_.eps},
          {"pytorch_epsilon", options_.epsilon_placement == EpsilonPlacement::PyTorch ? 1.0 : 0.0},
          {"weight_decay", options_.weight_decay}};
}

void Adam::set_slots(std::size_t i, const std::vector<Tensor>& values) {
  KILN_CHECK(values.size() == 2, "Adam: 2 slots (m, v) per parameter, got ", values.size());
  set_moments(i, values[0], values[1]);
}

void Adam::ensure_moments(std::size_t i) {
  const Tensor& param = params()[i];
  if (!m_[i].defined()) {
    m_[i] = Tensor::zeros(param.shape(), param.dtype(), param.device());
    v_[i] = Tensor::zeros(param.shape(), param.dtype(), param.device());
  }
  KILN_CHECK(m_[i].dtype() == param.dtype() && m_[i].device() == param.device(), "Adam: parameter ",
             i, " is now ", param.dtype(), " on ", param.device(), " but its moments are ",
             m_[i].dtype(), " on ", m_[i].device(), " (convert the model before the optimiser)");
}

void Adam::update_all(const std::vector<std::size_t>& ready) {
  bool all_cuda = !ready.empty();
  for (std::size_t i : ready)
    all_cuda =
        all_cuda && params()[i].device() == Device::CUDA && params()[i].dtype() == DType::Float32;
  if (!all_cuda) {
    Optimizer::update_all(ready);
    return;
  }
  // One launch for every tensor: VGG16's 32 parameter tensors would otherwise be 32 launches.
  // (No CUDA tensor exists in a CPU-only build, which compiles none of this: cuda_build.h.)
  if constexpr (kk::cuda::kCudaBuilt) {
    std::vector<kk::cuda::AdamTensor> table;
    for (std::size_t i : ready) {
      ensure_moments(i);
      Tensor param = params()[i];
      const Tensor grad = param.grad();
      table.push_back({param.numel(), grad.device_data<float>(), m_[i].device_data<float>(),
                       v_[i].device_data<float>(), param.device_data<float>()});
    }
    kk::cuda::adam_update_multi(table.data(), static_cast<std::int64_t>(table.size()),
                                scalars(step_count() + 1));
  }
}

void Adam::update(std::size_t i, Tensor& param, const Tensor& grad) {
  ensure_moments(i);
  const kk::AdamScalars s = scalars(step_count() + 1);
  Tensor &m = m_[i], &v = v_[i];
  dispatch<kk::AdamUpdate>("adam", param, [&](auto adam, auto t) {
    using T = decltype(t);
    adam(param.numel(), s, grad.device_data<T>(), m.device_data<T>(), v.device_data<T>(),
         param.device_data<T>());
  });
}

}  // namespace kiln
