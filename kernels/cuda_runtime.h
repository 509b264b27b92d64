// The CUDA backend's process-wide settings and synchronisation. No CUDA includes here.
// Kiln queues all GPU work on one stream per device (created on first use); kernels take it
// implicitly, which keeps their signatures identical to their CPU twins.
#pragma once

namespace kiln::kernels::cuda {

// cuDNN/cuBLAS math mode for convolutions and GEMMs: exact FP32, or TF32 tensor cores (Ampere+).
enum class MathMode { FP32, TF32 };
void set_math_mode(MathMode mode);
MathMode math_mode();

// Sets the math mode for one scope and restores the previous one on exit (tests, benchmarks, or a
// layer that must stay exact FP32 inside a TF32 model). The setting is process-wide, not per thread.
class MathModeScope {
 public:
  explicit MathModeScope(MathMode mode) : previous_(math_mode()) { set_math_mode(mode); }
  ~MathModeScope() { set_math_mode(previous_); }
  MathModeScope(const MathModeScope&) = delete;
  MathModeScope& operator=(const MathModeScope&) = delete;

 private:
  MathMode previous_;
};

// Waits for all queued work on Kiln's stream; rethrows an asynchronous CUDA error as kiln::Error.
void synchronize();

}  // namespace kiln::kernels::cuda
