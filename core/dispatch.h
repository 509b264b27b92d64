// How a differentiable function reaches its kernel: by device, then dtype, then engine.
// On the CPU, float32 runs the fast engine (oneDNN, BLAS, OpenMP) unless the reference engine is
// chosen; float64 always runs the reference kernels. On CUDA, float32 runs the cuda:: twin, and
// only in a CUDA build: elsewhere the cuda lambda is a discarded statement, never emitted, so a
// CPU-only build links no stub of the CUDA kernels (kernels/cuda_build.h).
// A device or dtype with no kernel for an op is a loud error naming both, never a silent copy
// to another device.
#pragma once

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

// CPU: fast() for float32 on the fast engine, otherwise reference(T{}) with T the element type.
// CUDA: cuda() for float32. The lambdas fetch pointers with Tensor::device_data<T>().
template <typename Fast, typename Reference, typename Cuda>
void dispatch(const char* op, const Tensor& like, Fast&& fast, Reference&& reference, Cuda&& cuda) {
  if (like.device() == Device::CUDA) {
    if (like.dtype() != DType::Float32) no_kernel(op, like);
    if constexpr (kernels::cuda::kCudaBuilt) {
      cuda();
    } else {
      no_cuda_build(op, like);
    }
    return;
  }
  switch (like.dtype()) {
    case DType::Float32:
      if (cpu_engine() == CpuEngine::Fast) {
        fast();
      } else {
        reference(float{});
      }
      return;
    case DType::Float64:
      reference(double{});
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
