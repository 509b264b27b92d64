// VGG16's input preprocessing, as Keras' preprocess_input in "caffe" mode does it
// (KERAS-FORMATS.md section 2): RGB -> BGR, subtract the ImageNet channel means, no scaling.
// It also moves the image from HWC (how datasets and augmentation hold it) to CHW (a slot of an
// NCHW batch, how Kiln's convolutions take it).
#pragma once

#include <cstdint>

namespace kiln {

// Subtracted from channels B, G, R (in that order) of values in [0, 255].
constexpr float kVggMeanBgr[3] = {103.939f, 116.779f, 123.68f};

// src (h, w, 3) RGB in [0, 255] -> dst (3, h, w) BGR minus kVggMeanBgr.
void vgg_preprocess(const float* src, int h, int w, float* dst);
void vgg_preprocess(const std::uint8_t* src, int h, int w, float* dst);

}  // namespace kiln
