// The CUDA backend's process-wide settings and synchronisation. No CUDA includes here.
// Kiln queues all GPU work on one stream per device (created on first use); kernels take it
// implicitly, which keeps their signatures identical to their CPU twins.
#pragma once

namespace kiln::kernels::cuda {

// cuDNN/cuBLAS math mode for convolutions and GEMMs: exact FP32, or TF32 tensor cores (Ampere+).
enum class MathMode { FP32, TF32 };
void set_math_mode(MathMode mode);
MathMode math_mode();

// Waits for all queued work on Kiln's stream; rethrows an asynchronous CUDA error as kiln::Error.
void synchronize();

}  // namespace kiln::kernels::cuda
