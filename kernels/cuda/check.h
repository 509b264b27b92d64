// Error checks for CUDA, cuDNN and cuBLAS calls. Included only by .cu files (it pulls in the CUDA
// headers). Library code throws kiln::Error naming the failed expression, file, line and the
// library's own error string; destructors use CUDA_REPORT, which prints and never throws.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>

#include "base/error.h"

namespace kiln::kernels::cuda::detail {

[[noreturn]] inline void throw_library_error(const char* library, const char* expression,
                                             const char* file, int line, int code,
                                             const char* message) {
  throw ::kiln::Error(::kiln::detail::concat(library, " error ", code, " (", message, ") in ",
                                             expression, " at ", file, ":", line));
}

}  // namespace kiln::kernels::cuda::detail

// Throws kiln::Error when a CUDA runtime call fails.
#define CUDA_CHECK(expr)                                                                         \
  do {                                                                                           \
    const cudaError_t kiln_cuda_status_ = (expr);                                                \
    if (kiln_cuda_status_ != cudaSuccess) {                                                      \
      ::kiln::kernels::cuda::detail::throw_library_error("CUDA", #expr, __FILE__, __LINE__,      \
                                                         static_cast<int>(kiln_cuda_status_),    \
                                                         cudaGetErrorString(kiln_cuda_status_)); \
    }                                                                                            \
  } while (0)

// Throws kiln::Error when a cuDNN call fails.
#define CUDNN_CHECK(expr)                                                                          \
  do {                                                                                             \
    const cudnnStatus_t kiln_cudnn_status_ = (expr);                                               \
    if (kiln_cudnn_status_ != CUDNN_STATUS_SUCCESS) {                                              \
      ::kiln::kernels::cuda::detail::throw_library_error("cuDNN", #expr, __FILE__, __LINE__,       \
                                                         static_cast<int>(kiln_cudnn_status_),     \
                                                         cudnnGetErrorString(kiln_cudnn_status_)); \
    }                                                                                              \
  } while (0)

// Throws kiln::Error when a cuBLAS call fails.
#define CUBLAS_CHECK(expr)                                                            \
  do {                                                                                \
    const cublasStatus_t kiln_cublas_status_ = (expr);                                \
    if (kiln_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                               \
      ::kiln::kernels::cuda::detail::throw_library_error(                             \
          "cuBLAS", #expr, __FILE__, __LINE__, static_cast<int>(kiln_cublas_status_), \
          cublasGetStatusString(kiln_cublas_status_));                                \
    }                                                                                 \
  } while (0)

// Follows every kernel launch: catches bad launch configurations (and, asynchronously, earlier
// faults) right where they are visible. cudaGetLastError also clears a non-sticky error.
#define KILN_LAUNCH_CHECK()                                                                   \
  do {                                                                                        \
    const cudaError_t kiln_launch_status_ = cudaGetLastError();                               \
    if (kiln_launch_status_ != cudaSuccess) {                                                 \
      ::kiln::kernels::cuda::detail::throw_library_error(                                     \
          "CUDA", "kernel launch", __FILE__, __LINE__, static_cast<int>(kiln_launch_status_), \
          cudaGetErrorString(kiln_launch_status_));                                           \
    }                                                                                         \
  } while (0)

// For destructors and other noexcept paths: prints the failure to stderr and carries on.
#define CUDA_REPORT(expr)                                                                      \
  do {                                                                                         \
    const cudaError_t kiln_cuda_status_ = (expr);                                              \
    if (kiln_cuda_status_ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "kiln: CUDA error %d (%s) in %s at %s:%d\n",                        \
                   static_cast<int>(kiln_cuda_status_), cudaGetErrorString(kiln_cuda_status_), \
                   #expr, __FILE__, __LINE__);                                                 \
    }                                                                                          \
  } while (0)
