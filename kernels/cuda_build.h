// Whether this build has the CUDA backend, as a constant the compiler can discard code with.
//
// A call into a hand-written kernel (kernels::cuda::add, conv2d_forward, ...) is written under
// `if constexpr (kCudaBuilt)`, directly or through core's dispatch(). In a CPU-only build the
// call is then a discarded statement: compiled for its types, never emitted, so nothing needs a
// definition of the CUDA kernels and no hand-kept stub of them exists. What stays stubbed in
// kernels/cuda/no_cuda*.cpp is the runtime's CPU-only answer (available() is false, allocate()
// throws saying why), which CPU-only code legitimately asks.
#pragma once

namespace kiln::kernels::cuda {

#if defined(KILN_WITH_CUDA) && KILN_WITH_CUDA
inline constexpr bool kCudaBuilt = true;
#else
inline constexpr bool kCudaBuilt = false;
#endif

// Why a CUDA-only path was reached in a CPU-only build; the same words as unavailable_reason().
inline constexpr const char* kNotBuiltReason =
    "Kiln was built without CUDA (KILN_CUDA=OFF or no nvcc)";

}  // namespace kiln::kernels::cuda
