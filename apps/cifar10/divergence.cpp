#include "apps/cifar10/divergence.h"

#include <cmath>

#include "apps/cifar10/model_file.h"
#include "core/autograd.h"
#include "core/functions.h"

namespace kiln::app {

namespace {

// A sum is non-finite when any element is (Inf + -Inf is NaN); sums accumulate in double, so
// finite floats cannot overflow it.
bool all_finite(const Tensor& t) { return std::isfinite(sum(t).item()); }

std::string first_non_finite_output(Module& model, const Tensor& images) {
  const bool training = model.is_training();
  model.eval();
  std::string name;
  Tensor x = images;
  for (const auto& layer : leaf_layers(model)) {
    x = layer->forward(x);
    if (!all_finite(x)) {
      name = layer->name();
      break;
    }
  }
  model.train(training);
  return name.empty() ? "the weights and every layer's output are finite"
                      : "the first layer whose output is not finite: " + name;
}

}  // namespace

std::string non_finite_weights(const Module& model) {
  NoGradGuard no_grad;
  const auto named = model.named_parameters();
  for (auto it = named.rbegin(); it != named.rend(); ++it) {
    if (!it->second.requires_grad() || all_finite(it->second)) continue;
    const std::string& param = it->first;
    return "the weights of " + param.substr(0, param.find('/')) + " (" + param + ") are not finite";
  }
  return "";
}

std::string non_finite_loss(Module& model, const Tensor& images, const Tensor& loss) {
  const double value = loss.item();
  if (std::isfinite(value)) return "";
  NoGradGuard no_grad;
  const std::string weights = non_finite_weights(model);
  return std::string("the loss is not finite (") +
         (std::isnan(value) ? "nan"
          : value > 0       ? "inf"
                            : "-inf") +
         "; " +
         (weights.empty() ? first_non_finite_output(model, images)
                          : weights + ": its gradient went non-finite in the previous step") +
         ")";
}

}  // namespace kiln::app
