// One op's kernels, named once: the CPU fast engine's (OpenMP, oneDNN, BLAS; float), the CPU
// reference's (a template over float and double) and the CUDA twin (float, device pointers).
//
//   KILN_KERNEL_FAMILY(Add, cpu::add_fast, cpu::add_reference, cuda::add);
//
// makes a type Add whose static fast(...), reference<T>(...) and cuda(...) forward their
// arguments to those three. core/dispatch.h picks one by device, dtype and engine, so an op
// writes its kernel call once, with T standing for the element type:
//
//   dispatch<kernels::Add>("add", a, [&](auto add, auto t) {
//     using T = decltype(t);
//     add(a.numel(), a.device_data<T>(), b.device_data<T>(), y.device_data<T>());
//   });
//
// The three kernels of a family take the same arguments (kernels/*.h says so for each). The
// forwarders are templates: the CUDA one is instantiated only where a CUDA build calls it, so a
// CPU-only build needs no definition of the CUDA kernel (kernels/cuda_build.h). A macro, because
// a function template (the reference kernel) cannot be passed as a template argument.
#pragma once

#include <utility>

#define KILN_KERNEL_FAMILY(Family, fast_kernel, reference_kernel, cuda_kernel) \
  struct Family {                                                              \
    template <typename... A>                                                   \
    static decltype(auto) fast(A&&... a) {                                     \
      return fast_kernel(std::forward<A>(a)...);                               \
    }                                                                          \
    template <typename T, typename... A>                                       \
    static decltype(auto) reference(A&&... a) {                                \
      return reference_kernel<T>(std::forward<A>(a)...);                       \
    }                                                                          \
    template <typename... A>                                                   \
    static decltype(auto) cuda(A&&... a) {                                     \
      return cuda_kernel(std::forward<A>(a)...);                               \
    }                                                                          \
  }
