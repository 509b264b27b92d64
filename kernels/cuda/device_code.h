// The opening of every header of device code (kernels/cuda/*_kernels.cuh, launch.h,
// block_reduce.h). Such a header is compiled twice: by nvcc, from its .cu file, and by the host
// compiler, from the emulated tests (tests/kernels/*_emulated_test.cpp), where
// tests/support/cuda_emulation.h, included first, supplies CUDA's built-ins. So device headers use
// nothing but CUDA's built-ins, the standard library's host-and-device-safe headers, the
// KILN_HOST_DEVICE headers of kernels/ and each other, and put their code in
//   namespace kiln::kernels::cuda::KILN_DEVICE_NAMESPACE { ... }
// which is `detail` under nvcc and `emulated` in the tests: the host copies that a test compiles
// never share a mangled name with nvcc's launch stubs for the same kernels (a test binary links
// the CUDA build of kiln_kernels too). The library has no emulation code path: these macros are
// the only place that tells the two compilations apart.
#pragma once

#if defined(KILN_CUDA_EMULATION)
#define KILN_DEVICE_NAMESPACE emulated
// GCC knows no `#pragma unroll` and warns at each one, whatever diagnostic pragmas say (before GCC
// 13), so the emulation leaves unrolling to the optimiser. For nvcc, KILN_UNROLL is exactly
// `#pragma unroll`.
#define KILN_UNROLL
#else
#include <cuda_runtime.h>
#define KILN_DEVICE_NAMESPACE detail
#define KILN_UNROLL _Pragma("unroll")
#endif
