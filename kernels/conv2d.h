// Convolution kernels (cross-correlation, as every framework computes it), NCHW activations and
// OIHW weights. Contract for every kernel here: outputs are OVERWRITTEN, never accumulated;
// inputs and outputs never alias. Shape checks happen in core/ before dispatch.
#pragma once

#include <cstdint>

namespace kiln::kernels {

struct Conv2dGeometry {
  std::int64_t n, c, h, w;  // input  (N, C, H, W)
  std::int64_t k, r, s;     // weight (K, C, R, S): K output channels, R x S window
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;  // zero padding on each side
  std::int64_t p() const { return (h + 2 * pad_h - r) / stride_h + 1; }  // output height
  std::int64_t q() const { return (w + 2 * pad_w - s) / stride_w + 1; }  // output width
};

namespace cpu {

// y (N,K,P,Q) = x (*) w + b. b may be null (no bias).
template <typename T>
void conv2d_forward_reference(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y);
// gx (N,C,H,W) = gradient of the loss with respect to x, given gy (N,K,P,Q).
template <typename T>
void conv2d_backward_data_reference(const Conv2dGeometry& g, const T* gy, const T* w, T* gx);
// gw (K,C,R,S) and gb (K) given x and gy; gb may be null.
template <typename T>
void conv2d_backward_weight_reference(const Conv2dGeometry& g, const T* x, const T* gy, T* gw,
                                      T* gb);

// The same three on oneDNN (float only). Primitives are created once per geometry and cached.
// Safe to call from several threads: calls are serialised, and each one uses every core.
void conv2d_forward_onednn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                           float* y);
void conv2d_backward_data_onednn(const Conv2dGeometry& g, const float* gy, const float* w,
                                 float* gx);
void conv2d_backward_weight_onednn(const Conv2dGeometry& g, const float* x, const float* gy,
                                   float* gw, float* gb);

}  // namespace cpu

// CUDA twins (device pointers, float), on cuDNN. Algorithms are chosen once per geometry and
// cached; the math mode follows set_math_mode (cuda_runtime.h). Work is queued on Kiln's stream.
namespace cuda {
void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y);
void conv2d_backward_data(const Conv2dGeometry& g, const float* gy, const float* w, float* gx);
void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* gy, float* gw,
                            float* gb);
}  // namespace cuda
}  // namespace kiln::kernels
