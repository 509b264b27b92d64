// Stopping train at the first non-finite value (README, "Reliability"), at no cost per step:
//   - the loss, every step: it is read anyway for the progress line;
//   - the trainable weights, once per epoch, before anything is saved, so poisoned weights are
//     never written (a NaN gradient makes Adam write NaN into the weights it updates).
// A non-finite gradient in step k (finite loss) therefore shows as a non-finite loss in step k+1,
// whose forward pass runs on the poisoned weights; the diagnosis then names the layer nearest the
// output whose weights went non-finite: the one whose gradient did (backpropagation carries a
// non-finite value to every layer before it, so that layer is where it started). Checking the
// gradients themselves every step cost 1.5% of a fine-tuning step on the CPU (README), too much
// for what it adds.
//
// NOTE: a NaN cannot come from the data: pixels are uint8 and preprocessing is a fixed affine
// map, so any NaN starts in the weights or the arithmetic (in practice, a too-high learning rate).
#pragma once

#include <string>

#include "base/error.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace kiln::app {

// train stopped because the loss or a weight went non-finite; main exits with kExitDiverged.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};
constexpr int kExitDiverged = 3;

// "" when every trainable weight is finite; else "the weights of dense_1 (dense_1/kernel) are not
// finite", naming the layer nearest the output with a non-finite one.
std::string non_finite_weights(const Module& model);

// "" when `loss` is finite. Else "the loss is not finite (nan; ...)" with what went non-finite
// first: the weights (non_finite_weights, from the previous step's update) or, when they are
// finite, the first layer whose output is not, found by running `images` through the leaf layers
// again in evaluation mode (no dropout draw; the model's mode is restored).
std::string non_finite_loss(Module& model, const Tensor& images, const Tensor& loss);

}  // namespace kiln::app
