// How a differentiable function reaches its kernel: by device, then dtype, then engine.
// On the CPU, float32 runs the fast engine (oneDNN, BLAS, OpenMP) unless the reference engine is
// chosen; float64 always runs the reference kernels. On CUDA, float32 runs the cuda:: twin, and
// only in a CUDA build: elsewhere nothing calls it, so a CPU-only build links no stub of the CUDA
// kernels (kernels/cuda_build.h). Each op names its kernels once, as a family
// (kernels/kernel_family.h), and writes its call to them once.
// A device or dtype with no kernel for an op is a loud error naming both, never a silent copy
// to another device.
#pragma once

#include <utility>

#include "core/tensor.h"
#include "kernels/cuda_build.h"

namespace kiln {

enum class CpuEngine { Fast, Reference };
// Default: Fast, or Reference when the environment sets KILN_CPU_ENGINE=reference.
CpuEngine cpu_engine();
void set_cpu_engine(CpuEngine engine);

[[noreturn]] void no_kernel(const char* op, const Tensor& t);
// A CUDA tensor reached an op in a CPU-only build (none can be made there, so this is a bug).
[[noreturn]] void no_cuda_build(const char* op, const Tensor& t);

namespace detail {
// What a dispatched body calls for each family: the kernel of one engine, its arguments as given.
template <typename Family>
struct FastKernel {
  template <typename... A>
  decltype(auto) operator()(A&&... a) const {
    return Family::fast(std::forward<A>(a)...);
  }
};
template <typename Family, typename T>
struct ReferenceKernel {
  template <typename... A>
  decltype(auto) operator()(A&&... a) const {
    return Family::template reference<T>(std::forward<A>(a)...);
  }
};
template <typename Family>
struct CudaKernel {
  template <typename... A>
  decltype(auto) operator()(A&&... a) const {
    return Family::cuda(std::forward<A>(a)...);
  }
};
}  // namespace detail

// Runs body(kernel..., T{}) once, with one callable per family (kernels/kernel_family.h) bound to
// the engine chosen for `like`, and T its element type:
// - CPU float32: the fast kernels, or the reference ones (T = float) under CpuEngine::Reference;
// - CPU float64: the reference kernels (T = double);
// - CUDA float32: the CUDA kernels, in a CUDA build (elsewhere the body is never instantiated
//   for them, and no CUDA tensor can exist).
// Any other device/dtype pair is an error naming the op. The body writes each kernel call once,
// fetching pointers with Tensor::device_data<T>().
template <typename... Families, typename Body>
void dispatch(const char* op, const Tensor& like, Body&& body) {
  if (like.device() == Device::CUDA) {
    if (like.dtype() != DType::Float32) no_kernel(op, like);
    if constexpr (kernels::cuda::kCudaBuilt) {
      body(detail::CudaKernel<Families>{}..., float{});
    } else {
      no_cuda_build(op, like);
    }
    return;
  }
  switch (like.dtype()) {
    case DType::Float32:
      if (cpu_engine() == CpuEngine::Fast) {
        body(detail::FastKernel<Families>{}..., float{});
      } else {
        body(detail::ReferenceKernel<Families, float>{}..., float{});
      }
      return;
    case DType::Float64:
      body(detail::ReferenceKernel<Families, double>{}..., double{});
      return;
    default:
      no_kernel(op, like);
  }
}

// Shape and dtype checks shared by the ops; messages name the op and the shapes.
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype_device(const char* op, const Tensor& a, const Tensor& b);
void check_floating(const char* op, const Tensor& t);

}  // namespace kiln
