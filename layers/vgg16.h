// VGG16 as keras.applications builds it (KERAS-FORMATS.md section 2), with Keras' layer names so
// the official weight files load by name, and the classic transfer-learning head.
#pragma once

#include <cstdint>
#include <memory>

#include "core/random.h"
#include "layers/flatten.h"
#include "layers/sequential.h"

namespace kiln {

// The convolutional base, include_top=False: block1_conv1 .. block5_conv3 (3x3, "same", ReLU)
// and block1_pool .. block5_pool (2x2, stride 2), in a Sequential named "vgg16".
// 14,714,688 parameters for 3 input channels. (N, C, H, W) -> (N, 512, H/32, W/32).
std::shared_ptr<Sequential> vgg16_base(Generator& gen, int in_channels = 3);

struct HeadOptions {
  std::int64_t hidden = 256;  // units of the ReLU Dense layer
  double dropout = 0.5;
  std::int64_t classes = 10;
};

// flatten -> dense (hidden, ReLU) -> dropout -> dense_1 (classes, logits), the names Keras gives
// these layers; softmax lives in the loss (softmax_cross_entropy) and in softmax() for prediction.
// `map` is the base's output per image: (512, size/32, size/32).
std::shared_ptr<Sequential> vgg16_head(const MapShape& map, const HeadOptions& options,
                                       Generator& gen);

// Base ("vgg16") then head ("head") in one Sequential, for square images of image_size >= 32:
// in_features = 512 * (image_size / 32)^2. Freeze the base with layer("vgg16")->set_trainable.
std::shared_ptr<Sequential> vgg16_classifier(std::int64_t image_size, const HeadOptions& options,
                                             Generator& gen);

}  // namespace kiln
