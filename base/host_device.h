// KILN_HOST_DEVICE: marks a function that CUDA compiles for both the host and the device (plain C++
// elsewhere), for the few rules the CPU and CUDA kernels must share to the bit: one definition,
// no twin to keep in step.
#pragma once

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif
