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
// layer that must stay exact FP32 inside a TF32 model). The setting is process-wide, not per
// thread.
class MathModeScope {
 public:
  explicit MathModeScope(MathMode mode) : previous_(math_mode()) { set_math_mode(mode); }
  ~MathModeScope() { set_math_mode(previous_); }
  MathModeScope(const MathModeScope&) = delete;
  MathModeScope& operator=(const MathModeScope&) = delete;

 private:
  MathMode previous_;
};

// Deterministic mode: the GPU kernels give the same bits on every run of the same program on the
// same inputs, device model, driver and library versions (docs/design-notes.md says exactly what
// is and is not covered). Kiln's own kernels are deterministic always; the setting restricts what
// Kiln lets the libraries and the engine choice do:
// - cuDNN may use only algorithms it reports as CUDNN_DETERMINISTIC, taken from its heuristics in
//   their order (KILN_CUDNN_FIND is ignored: a timed choice can differ from run to run); a layer
//   for which none qualifies fails with an error naming its geometry;
// - ConvEngine::Auto follows a fixed rule per shape instead of timing both engines
//   (deterministic_auto_engine in kernels/conv2d.h).
// Off by default. The initial value comes from KILN_DETERMINISTIC (1 on, 0 off) when it is set.
void set_deterministic(bool on);
bool deterministic();
// Parses a KILN_DETERMINISTIC value, "1" or "0"; throws kiln::Error naming the text otherwise.
bool parse_deterministic(const char* text);
// Reads KILN_DETERMINISTIC now (unset or empty: off); a bad value throws, naming the variable. The
// process's initial setting is this, read once on first use.
bool deterministic_from_environment();

// Sets deterministic mode for one scope and restores the previous setting on exit (process-wide).
class DeterministicScope {
 public:
  explicit DeterministicScope(bool on) : previous_(deterministic()) { set_deterministic(on); }
  ~DeterministicScope() { set_deterministic(previous_); }
  DeterministicScope(const DeterministicScope&) = delete;
  DeterministicScope& operator=(const DeterministicScope&) = delete;

 private:
  bool previous_;
};

// Waits for all queued work on Kiln's stream; rethrows an asynchronous CUDA error as kiln::Error.
void synchronize();

}  // namespace kiln::kernels::cuda
