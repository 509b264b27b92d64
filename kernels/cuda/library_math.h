// How a Kiln math mode (kernels/cuda_runtime.h) maps onto cuDNN's and cuBLAS's math settings for
// FP32 data. Pure functions of the mode, so the CPU tests check the mapping; included by .cu files
// and by those tests (it needs only the library headers, no device).
//
// What the libraries document (FP32 data, sm_80 and newer):
// cuDNN, cudnnMathType_t (API reference, cudnn_graph library; cuDNN 8 and 9 alike):
//   CUDNN_DEFAULT_MATH  "Tensor Core operations are not used on pre-NVIDIA A100 GPU devices. On
//                       A100 GPU architecture devices, Tensor Core TF32 operation is permitted."
//   CUDNN_TENSOR_OP_MATH "The use of Tensor Core operations is permitted but will not actively
//                       perform datatype down conversion on tensors in order to utilize Tensor
//                       Cores."
//   CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION  "... and will actively perform datatype down conversion"
//                       (FP32 tensors may be converted to FP16: never wanted here).
//   CUDNN_FMA_MATH      "Restricted to only kernels that use FMA instructions."
//   and: "With NVIDIA Ampere GPU architecture and CUDA Toolkit 11, CUDNN_DEFAULT_MATH permits TF32
//   Tensor Core operation and CUDNN_FMA_MATH does not. The TF32 behavior for CUDNN_DEFAULT_MATH
//   can be explicitly disabled by the environment variable NVIDIA_TF32_OVERRIDE=0."
//   So the one math type documented to permit TF32 for FP32 data is CUDNN_DEFAULT_MATH; whether
//   TENSOR_OP_MATH does (TF32 rounds FP32 operands to 10 mantissa bits, arguably a down
//   conversion) is not stated. PyTorch does the same (aten/src/ATen/cudnn/Descriptors.h,
//   ConvolutionDescriptor::set): FP32 with allow_tf32 keeps CUDNN_DEFAULT_MATH, FP32 without it
//   sets CUDNN_FMA_MATH, and only FP16/BF16 data get CUDNN_TENSOR_OP_MATH.
// cuBLAS, cublasMath_t (cuBLAS library guide, 2.2.10):
//   CUBLAS_DEFAULT_MATH "uses compute and intermediate storage precisions with at least the same
//                       number of mantissa and exponent bits as requested" (so FP32, never TF32,
//                       for single-precision routines)
//   CUBLAS_PEDANTIC_MATH "uses the prescribed precision and standardized arithmetic for all phases
//                       of calculations ... for numerical robustness studies, testing, and
//                       debugging. This mode might not be as performant as the other modes."
//   CUBLAS_TF32_TENSOR_OP_MATH "Enable acceleration of single-precision routines using TF32 tensor
//                       cores."
//   and (2.2.11): "Setting the environment variable NVIDIA_TF32_OVERRIDE = 0 will override any
//   defaults or programmatic configuration of NVIDIA libraries, and consequently, cuBLAS will not
//   accelerate single-precision computations with TF32 tensor cores." PyTorch sets
//   CUBLAS_TF32_TENSOR_OP_MATH when TF32 is allowed, CUBLAS_DEFAULT_MATH otherwise
//   (CublasHandlePool.cpp).
// NOTE: NVIDIA_TF32_OVERRIDE=0 turns TF32 off inside cuDNN and cuBLAS only. Kiln's own TF32 kernels
// (wmma, conv2d_kiln.cu, gemm_kiln.cu) do not read it, so in TF32 mode with that variable set the
// Kiln engine still rounds to TF32 while the libraries compute FP32.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <optional>

#include "kernels/cuda_runtime.h"

namespace kiln::kernels::cuda {

// The math type set on a convolution descriptor before asking cuDNN for algorithms (heuristics or
// Find), which tells cuDNN which kernels it may consider: FP32 forbids TF32 (CUDNN_FMA_MATH;
// cuDNN's default would permit TF32 on sm_80+), TF32 permits it (CUDNN_DEFAULT_MATH, see above).
inline cudnnMathType_t cudnn_math_type(MathMode mode) {
  return mode == MathMode::TF32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

// The math type an algorithm runs with, given the one cuDNN reported for it (cuDNN asks that the
// descriptor be set to the reported type before running it). FP32 pins CUDNN_FMA_MATH whatever was
// reported: exact FP32, never TF32. TF32 runs what was reported, except a type that would let cuDNN
// down-convert FP32 to FP16 (ALLOW_CONVERSION), and anything unknown: nullopt, skip the algorithm.
inline std::optional<cudnnMathType_t> cudnn_run_math(MathMode mode, cudnnMathType_t reported) {
  if (mode == MathMode::FP32) return CUDNN_FMA_MATH;
  switch (reported) {
    case CUDNN_DEFAULT_MATH:
    case CUDNN_TENSOR_OP_MATH:
    case CUDNN_FMA_MATH:
      return reported;
    default:
      return std::nullopt;
  }
}

// The cuBLAS handle's math mode: FP32 keeps FP32 compute (CUBLAS_DEFAULT_MATH: at least FP32's
// mantissa, at cuBLAS's full speed; PEDANTIC is meant for robustness studies and "might not be as
// performant"), TF32 allows TF32 tensor cores for SGEMM. What PyTorch sets, too.
inline cublasMath_t cublas_math_mode(MathMode mode) {
  return mode == MathMode::TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
}

}  // namespace kiln::kernels::cuda
