#include "optim/sgd.h"

#include "core/dispatch.h"

namespace kiln {

namespace kk = kernels;

Sgd::Sgd(std::vector<Tensor> params, const SgdOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  KILN_CHECK(options.momentum >= 0 && options.weight_decay >= 0,
             "Sgd: momentum and weight_decay must be non-negative, got ", options.momentum, " and ",
             options.weight_decay);
  KILN_CHECK(!options.nesterov || options.momentum > 0, "Sgd: Nesterov needs momentum > 0");
  buffers_.resize(this->params().size());
}

kk::SgdScalars Sgd::scalars() const {
  kk::SgdScalars s;
  s.lr = learning_rate();
  s.momentum = options_.momentum;
  s.decay = learning_rate() * options_.weight_decay;
  s.nesterov = options_.nesterov;
  return s;
}

void Sgd::set_momentum_buffer(std::size_t i, const Tensor& buffer) {
  KILN_CHECK(i < params().size(), "Sgd: no parameter ", i, " (", params().size(), " in all)");
  const Tensor& p = params()[i];
  KILN_CHECK(!buffer.defined() || (buffer.shape() == p.shape() && buffer.dtype() == p.dtype()),
             "Sgd: momentum buffer ", buffer.shape(), " does not match parameter ", i, " ",
             p.shape(), " ", p.dtype());
  buffers_[i] = buffer.defined() ? buffer.to(p.device()) : Tensor();
}

std::vector<std::pair<std::string, double>> Sgd::resume_options() const {
  return {{"momentum", options_.momentum},
          {"nesterov", options_.nesterov ? 1.0 : 0.0},
          {"weight_decay", options_.weight_decay}};
}

void Sgd::set_slots(std::size_t i, const std::vector<Tensor>& values) {
  KILN_CHECK(values.size() == 1, "Sgd: 1 slot (momentum) per parameter, got ", values.size());
  set_momentum_buffer(i, values[0]);
}

void Sgd::update(std::size_t i, Tensor& param, const Tensor& grad) {
  // A zero buffer makes the first step buf = g, as PyTorch's clone of the first gradient does.
  if (options_.momentum != 0 && !buffers_[i].defined()) {
    buffers_[i] = Tensor::zeros(param.shape(), param.dtype(), param.device());
  }
  Tensor& buf = buffers_[i];
  KILN_CHECK(!buf.defined() || buf.dtype() == param.dtype(), "Sgd: parameter ", i, " is now ",
             param.dtype(), " but its momentum buffer is ", buf.dtype());
  const kk::SgdScalars s = scalars();
  dispatch<kk::SgdUpdate>("sgd", param, [&](auto sgd, auto t) {
    using T = decltype(t);
    sgd(param.numel(), s, grad.device_data<T>(), buf.defined() ? buf.device_data<T>() : nullptr,
        param.device_data<T>());
  });
}

}  // namespace kiln
