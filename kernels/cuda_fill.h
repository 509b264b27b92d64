// fill_float: sets n floats of device memory to one value. Includes nothing from CUDA.
#pragma once

#include <cstdint>

namespace kiln::kernels::cuda {

// dst[0..n) = value. requires: dst is device memory holding n floats, n >= 0.
// Queued on Kiln's stream and returns before the kernel finishes; the synchronous copies in
// device_memory.h, queued on the same stream, wait for it. Throws kiln::Error on a bad launch, or
// without the CUDA backend.
void fill_float(float* dst, std::int64_t n, float value);

}  // namespace kiln::kernels::cuda
