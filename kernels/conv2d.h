// Convolution kernels (cross-correlation, as every framework computes it), NCHW activations and
// OIHW weights. Contract for every kernel here: outputs are OVERWRITTEN, never accumulated;
// inputs and outputs never alias. Shape checks happen in core/ before dispatch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda_runtime.h"

namespace kiln::kernels {

struct Conv2dGeometry {
  std::int64_t n, c, h, w;  // input  (N, C, H, W)
  std::int64_t k, r, s;     // weight (K, C, R, S): K output channels, R x S window
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;  // zero padding on each side
  std::int64_t p() const { return (h + 2 * pad_h - r) / stride_h + 1; }  // output height
  std::int64_t q() const { return (w + 2 * pad_w - s) / stride_w + 1; }  // output width
};

namespace cpu {

// y (N,K,P,Q) = x (*) w + b. b may be null (no bias).
template <typename T>
void conv2d_forward_reference(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y);
// gx (N,C,H,W) = gradient of the loss with respect to x, given gy (N,K,P,Q).
template <typename T>
void conv2d_backward_data_reference(const Conv2dGeometry& g, const T* gy, const T* w, T* gx);
// gw (K,C,R,S) and gb (K) given x and gy; gb may be null.
template <typename T>
void conv2d_backward_weight_reference(const Conv2dGeometry& g, const T* x, const T* gy, T* gw,
                                      T* gb);

// Tensor::version() of the inputs whose blocked copies a oneDNN call may keep and reuse, 0 for
// none. Each call reads the fields of its own inputs: forward x and w, backward-data gy and w,
// backward-weight x and gy. A non-zero version promises that the buffer holds that version's
// data; a copy is reused while the version is unchanged. Weights: an evaluated or frozen layer
// reorders them once. x and gy: pass them only when a later call of the same step reads them
// (x for backward-weight, gy when both backward calls run), or the copies only cost memory.
struct ConvVersions {
  std::uint64_t x = 0, w = 0, gy = 0;
};

// The same three on oneDNN (float only). Primitives are created once per geometry and cached.
// Safe to call from several threads: calls are serialised, and each one uses every core.
void conv2d_forward_onednn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                           float* y, const ConvVersions& versions = {});
void conv2d_backward_data_onednn(const Conv2dGeometry& g, const float* gy, const float* w,
                                 float* gx, const ConvVersions& versions = {});
void conv2d_backward_weight_onednn(const Conv2dGeometry& g, const float* x, const float* gy,
                                   float* gw, float* gb, const ConvVersions& versions = {});

// Which algorithm the oneDNN convolutions run, per layer.
//   Auto (the default): Winograd F(4x4, 3x3) where winograd_suits(g), direct elsewhere.
//   Direct, Winograd: that one for every layer.
// Wherever oneDNN has no Winograd kernel for a layer (it has them for 3x3 stride-1 f32 on
// AVX-512 only), the direct one runs. Winograd computes the same convolution with fewer
// multiplications and a larger rounding error (tests/kernels/conv2d_test.cpp bounds it); every
// choice is a fixed rule, so runs stay repeatable. Initial value from KILN_CPU_CONV_ALGORITHM
// (auto, direct or winograd).
enum class CpuConvAlgorithm { Auto, Direct, Winograd };
void set_cpu_conv_algorithm(CpuConvAlgorithm algorithm);
CpuConvAlgorithm cpu_conv_algorithm();
const char* to_string(CpuConvAlgorithm algorithm);  // "auto", "direct", "winograd"
// Throws kiln::Error naming the text and the choices when it is none of them.
CpuConvAlgorithm parse_cpu_conv_algorithm(const char* text);
// Auto's rule: 3x3, stride 1, at least 64 input and 64 output channels, an output of at least
// 4x4. On the 2-core AVX-512 EPYC dev machine Winograd ran VGG16's such layers 1.1-2.6x faster in
// each direction, and 3-7x slower on the 3-channel first layer and the 2x2 maps of block 5.
bool winograd_suits(const Conv2dGeometry& g);
bool wants_winograd(const Conv2dGeometry& g, CpuConvAlgorithm algorithm);
// The oneDNN implementation that runs `g` in `direction` ("forward", "backward_data" or
// "backward_weight") under the current setting, e.g. "jit_wino_4x3:avx512_core": for tests and
// profiles. Creates the primitive if it was not yet.
std::string onednn_conv_implementation(const Conv2dGeometry& g, const char* direction);

// How often the calls found a blocked copy (hits) or made one (misses) since the process started,
// and the bytes the cache holds now: for tests and profiles.
struct OnednnCopyCacheStats {
  std::int64_t hits = 0, misses = 0, bytes = 0;
};
OnednnCopyCacheStats onednn_copy_cache_stats();
void onednn_copy_cache_clear();  // drops every copy (their memory too)

}  // namespace cpu

// CUDA twins (device pointers, float). Two engines implement them:
//   - cuDNN (conv2d_*_cudnn): algorithms chosen once per geometry and cached
//   (kernels/cuda/conv2d.cu);
//   - Kiln's own implicit-GEMM kernels (conv2d_*_kiln): shared-memory tiled, FP32 on CUDA cores or,
//     in TF32 math mode, TF32 tensor cores through wmma (kernels/cuda/conv2d_kiln.cu).
// The math mode follows set_math_mode (cuda_runtime.h). Work is queued on Kiln's stream. The
// engine-neutral conv2d_* entry points pick an engine with conv_engine() (below).
namespace cuda {
void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y);
void conv2d_backward_data(const Conv2dGeometry& g, const float* gy, const float* w, float* gx);
void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* gy, float* gw,
                            float* gb);

void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                          float* y);
void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* gy, const float* w,
                                float* gx);
void conv2d_backward_weight_cudnn(const Conv2dGeometry& g, const float* x, const float* gy,
                                  float* gw, float* gb);

void conv2d_forward_kiln(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                         float* y);
void conv2d_backward_data_kiln(const Conv2dGeometry& g, const float* gy, const float* w, float* gx);
void conv2d_backward_weight_kiln(const Conv2dGeometry& g, const float* x, const float* gy,
                                 float* gw, float* gb);

// Which engine the conv2d_* entry points use. Auto (the default) times both engines once per
// (device, geometry, direction, math mode), on the call's own buffers, and keeps the faster for the
// rest of the process; in deterministic mode (cuda_runtime.h) it times nothing and follows
// deterministic_auto_engine below. A shape Kiln's engine cannot run goes to cuDNN untimed. The
// initial value comes from KILN_CONV_ENGINE (kiln, cudnn or auto) when set.
enum class ConvEngine { Auto, CuDNN, Kiln };
void set_conv_engine(ConvEngine engine);
ConvEngine conv_engine();
const char* to_string(ConvEngine engine);  // "auto", "cudnn", "kiln"
// Parses "auto", "cudnn" or "kiln"; throws kiln::Error naming the text and the choices otherwise.
ConvEngine parse_conv_engine(const char* text);

// Sets the conv engine for one scope and restores the previous one on exit (process-wide).
class ConvEngineScope {
 public:
  explicit ConvEngineScope(ConvEngine engine) : previous_(conv_engine()) {
    set_conv_engine(engine);
  }
  ~ConvEngineScope() { set_conv_engine(previous_); }
  ConvEngineScope(const ConvEngineScope&) = delete;
  ConvEngineScope& operator=(const ConvEngineScope&) = delete;

 private:
  ConvEngine previous_;
};

// Whether every size of `g` that Kiln's kernels index with int (dimensions, per-image products, the
// GEMM sides) lies in [0, INT_MAX]. When one does not and `too_large` is given, it gets that size.
bool kiln_engine_fits(const Conv2dGeometry& g, std::int64_t* too_large = nullptr);
// Whether Kiln's engine can run `g` in `mode` on a device of compute capability `compute_major`.x:
// the sizes fit (kiln_engine_fits), and TF32 needs sm_80 or newer (wmma tf32).
bool kiln_engine_supports(const Conv2dGeometry& g, MathMode mode, int compute_major);

// The engine Auto uses in deterministic mode, for every direction: Kiln's wherever it can run the
// shape, else cuDNN (restricted, in that mode, to algorithms it flags deterministic). A fixed rule,
// no timing, so every run makes the same choice. Kiln's engine is preferred because its
// determinism is by construction and independent of the library: no atomics, a split-K layout that
// depends only on the geometry (not on the card's SM count), a fixed-order reduction, all checked
// on the CPU in CI; whereas which deterministic cuDNN algorithm runs (and so which bits come out)
// is up to cuDNN's heuristics and may change with the cuDNN version, and for backward-data and
// backward-filter some layers may have no deterministic algorithm within the workspace cap.
ConvEngine deterministic_auto_engine(const Conv2dGeometry& g, MathMode mode, int compute_major);

// What Auto chose so far, one line per (geometry, direction, math mode) it has timed, with both
// times: for logs and benchmark reports. Empty before the first Auto call.
enum class ConvDirection { Forward, BackwardData, BackwardWeight };
struct ConvEngineChoice {
  Conv2dGeometry g;
  ConvDirection direction;
  MathMode mode;
  ConvEngine chosen;  // CuDNN or Kiln
  float cudnn_ms, kiln_ms;
};
std::vector<ConvEngineChoice> conv_engine_choices();
}  // namespace cuda
}  // namespace kiln::kernels

// conv2d's families for core/dispatch.h (kernels/kernel_family.h), written out: the oneDNN kernels
// also take the inputs' versions (ConvVersions, the key of their cache of blocked copies), which
// the reference and CUDA kernels, keeping no such cache, ignore. One call then serves all three.
namespace kiln::kernels {
struct Conv2dForward {
  static void fast(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                   float* y, const cpu::ConvVersions& versions) {
    cpu::conv2d_forward_onednn(g, x, w, b, y, versions);
  }
  template <typename T>
  static void reference(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y,
                        const cpu::ConvVersions& /*versions*/) {
    cpu::conv2d_forward_reference<T>(g, x, w, b, y);
  }
  static void cuda(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                   float* y, const cpu::ConvVersions& /*versions*/) {
    kernels::cuda::conv2d_forward(g, x, w, b, y);
  }
};
struct Conv2dBackwardData {
  static void fast(const Conv2dGeometry& g, const float* gy, const float* w, float* gx,
                   const cpu::ConvVersions& versions) {
    cpu::conv2d_backward_data_onednn(g, gy, w, gx, versions);
  }
  template <typename T>
  static void reference(const Conv2dGeometry& g, const T* gy, const T* w, T* gx,
                        const cpu::ConvVersions& /*versions*/) {
    cpu::conv2d_backward_data_reference<T>(g, gy, w, gx);
  }
  static void cuda(const Conv2dGeometry& g, const float* gy, const float* w, float* gx,
                   const cpu::ConvVersions& /*versions*/) {
    kernels::cuda::conv2d_backward_data(g, gy, w, gx);
  }
};
struct Conv2dBackwardWeight {
  static void fast(const Conv2dGeometry& g, const float* x, const float* gy, float* gw, float* gb,
                   const cpu::ConvVersions& versions) {
    cpu::conv2d_backward_weight_onednn(g, x, gy, gw, gb, versions);
  }
  template <typename T>
  static void reference(const Conv2dGeometry& g, const T* x, const T* gy, T* gw, T* gb,
                        const cpu::ConvVersions& /*versions*/) {
    cpu::conv2d_backward_weight_reference<T>(g, x, gy, gw, gb);
  }
  static void cuda(const Conv2dGeometry& g, const float* x, const float* gy, float* gw, float* gb,
                   const cpu::ConvVersions& /*versions*/) {
    kernels::cuda::conv2d_backward_weight(g, x, gy, gw, gb);
  }
};
}  // namespace kiln::kernels
