// Bilinear resizing of uint8 images, with half-pixel centres: output pixel (y, x) samples the
// input at ((y + 0.5) * in_h / out_h - 0.5, (x + 0.5) * in_w / out_w - 0.5), clamped to the edge.
// This is tf.image.resize's "bilinear" without antialiasing (what Keras'
// image_dataset_from_directory uses) and OpenCV's INTER_LINEAR; a same-size resize is an exact
// copy. NOTE: shrinking by more than 2x skips input pixels (aliasing); fine for the
// photo-to-thumbnail sizes of predict, not a general-purpose downscaler.
#pragma once

#include <cstdint>

namespace kiln {

// src (in_h, in_w, c) -> dst (out_h, out_w, c), both row-major uint8; results round to nearest.
void resize_bilinear(const std::uint8_t* src, int in_h, int in_w, int c, std::uint8_t* dst,
                     int out_h, int out_w);

}  // namespace kiln
