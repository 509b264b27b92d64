// BatchNorm2d: Keras' BatchNormalization on the channel axis of an NCHW map (Keras' axis=1; its
// default channels_last model normalises the same per-channel statistics on axis -1). Parameters
// gamma (ones) and beta (zeros); buffers moving_mean (zeros) and moving_variance (ones), Keras'
// weight names in Keras' order.
//
// Keras' modes: the batch's statistics are used, and the moving ones updated, only while the
// layer is both training and trainable. A frozen BatchNorm2d (set_trainable(false)) always
// normalises with its moving statistics, as Keras' has since TF 2.0: what fine-tuning a
// pretrained base with its BatchNorms frozen needs.
#pragma once

#include <cstdint>
#include <string>

#include "core/functions.h"
#include "layers/module.h"

namespace kiln {

class BatchNorm2d : public Module {
 public:
  BatchNorm2d(std::string name, std::int64_t channels, const BatchNormOptions& options = {});

  Tensor forward(const Tensor& x) override;  // (N, C, H, W) -> same
  std::string keras_class() const override { return "batch_normalization"; }
  bool keeps_feature_order() const override { return true; }

  std::int64_t channels() const { return channels_; }
  const BatchNormOptions& options() const { return options_; }
  // Whether forward() normalises with the batch's statistics (training and trainable).
  bool uses_batch_statistics() const;

  const Tensor& gamma() const { return gamma_; }
  const Tensor& beta() const { return beta_; }
  const Tensor& moving_mean() const { return moving_mean_; }
  const Tensor& moving_variance() const { return moving_variance_; }

 private:
  std::int64_t channels_;
  BatchNormOptions options_;
  Tensor gamma_, beta_, moving_mean_, moving_variance_;  // (C) each
};

}  // namespace kiln
