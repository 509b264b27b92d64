// What the benchmark programs' cuDNN rivals share (CUDA builds only): an NCHW float tensor
// descriptor that destroys itself, and cuDNN's scaling factors for "write, do not accumulate".
#pragma once

#include <cudnn.h>

#include <cstdint>

#include "kernels/cuda/check.h"

namespace kiln::bench {

class CudnnNchw {
 public:
  CudnnNchw(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
    const auto i = [](std::int64_t v) { return static_cast<int>(v); };
    const cudnnStatus_t status = cudnnSetTensor4dDescriptor(
        desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(n), i(c), i(h), i(w));
    if (status != CUDNN_STATUS_SUCCESS) cudnnDestroyTensorDescriptor(desc_);  // no destructor runs
    CUDNN_CHECK(status);
  }
  ~CudnnNchw() { cudnnDestroyTensorDescriptor(desc_); }
  CudnnNchw(const CudnnNchw&) = delete;
  CudnnNchw& operator=(const CudnnNchw&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

// alpha and beta of cuDNN's calls: out = 1 * op(in) + 0 * out.
inline constexpr float kCudnnOne = 1.f;
inline constexpr float kCudnnZero = 0.f;

}  // namespace kiln::bench
