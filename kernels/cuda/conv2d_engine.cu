// The engine-neutral conv2d_* entry points: each call goes to cuDNN or to Kiln's implicit-GEMM
// kernels, as conv_engine() says (kernels/conv2d.h).
//
// Auto. Which engine is faster depends on the layer's shape, the direction and the math mode (a
// 64-channel 32x32 layer and a 512-channel 2x2 layer are very different GEMMs), so Auto decides
// per (device, geometry, direction, math mode), once, by measurement: the first call runs each
// engine once to warm it (cuDNN picks its algorithm and loads its kernels then), times kTimedRuns
// runs of each with CUDA events on Kiln's stream, keeps the faster, and finally runs the winner
// once more so the output the caller gets is the winner's. Both engines overwrite their outputs and
// never read them, so timing on the caller's own buffers is safe and needs no extra memory.
// Later calls look the choice up and go straight to the winner.
//
// Deterministic mode (kernels/cuda_runtime.h). Timing is noise, so two runs may choose differently
// for the same shape and then compute different bits. Under Auto with deterministic() set nothing
// is timed or recorded: each call takes deterministic_auto_engine's fixed rule (Kiln's engine
// wherever it can run the shape; kernels/conv2d.h says why), which depends only on the geometry,
// the math mode and the device's compute capability. A shape Kiln's engine cannot run (sizes past
// its 32-bit indexing, TF32 before sm_80) goes to cuDNN without timing in either mode.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace kiln::kernels::cuda {
namespace {

constexpr int kTimedRuns =
    3;  // per engine: enough to step past one-off noise, cheap once per shape

using ChoiceKey = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, std::int64_t, int, int>;

struct ChoiceTable {
  std::mutex mutex;
  std::map<ChoiceKey, ConvEngineChoice> choices;
};

ChoiceTable& table() {
  static ChoiceTable* const t = new ChoiceTable();  // leaked on purpose: used until exit
  return *t;
}

int current_device() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

ChoiceKey key_of(const Conv2dGeometry& g, ConvDirection direction, MathMode mode) {
  return std::make_tuple(current_device(), g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.stride_h,
                         g.stride_w, g.pad_h, g.pad_w, static_cast<int>(direction),
                         static_cast<int>(mode));
}

// Milliseconds per run of `run`, averaged over kTimedRuns, measured on Kiln's stream.
template <typename Run>
float time_runs(const Run& run) {
  cudaStream_t s = stream();
  cudaEvent_t start = nullptr, stop = nullptr;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  float ms = 0.f;
  try {
    CUDA_CHECK(cudaEventRecord(start, s));
    for (int i = 0; i < kTimedRuns; ++i) run();
    CUDA_CHECK(cudaEventRecord(stop, s));
    CUDA_CHECK(cudaEventSynchronize(stop));
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  } catch (...) {
    CUDA_REPORT(cudaEventDestroy(start));
    CUDA_REPORT(cudaEventDestroy(stop));
    throw;
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  return ms / kTimedRuns;
}

int compute_major() {
  int major = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, current_device()));
  return major;
}

// Runs one direction with the engine conv_engine() names; under Auto, by the fixed rule in
// deterministic mode, else timing both the first time.
template <typename RunCudnn, typename RunKiln>
void run_with_engine(const Conv2dGeometry& g, ConvDirection direction, const RunCudnn& cudnn,
                     const RunKiln& kiln) {
  switch (conv_engine()) {
    case ConvEngine::CuDNN:
      cudnn();
      return;
    case ConvEngine::Kiln:
      kiln();
      return;
    case ConvEngine::Auto:
      break;
  }
  const MathMode mode = math_mode();
  const int major = compute_major();
  if (deterministic()) {
    if (deterministic_auto_engine(g, mode, major) == ConvEngine::Kiln)
      kiln();
    else
      cudnn();
    return;
  }
  if (!kiln_engine_supports(g, mode, major)) {  // nothing to time against
    cudnn();
    return;
  }
  const ChoiceKey key = key_of(g, direction, mode);
  ChoiceTable& t = table();
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    const auto found = t.choices.find(key);
    if (found != t.choices.end()) {
      if (found->second.chosen == ConvEngine::Kiln)
        kiln();
      else
        cudnn();
      return;
    }
  }
  // Not timed yet. The engines take the device lease themselves, so none is held here; two threads
  // timing the same shape at once both measure, and the first to finish decides.
  cudnn();
  kiln();
  ConvEngineChoice choice{g, direction, mode, ConvEngine::CuDNN, 0.f, 0.f};
  choice.cudnn_ms = time_runs(cudnn);
  choice.kiln_ms = time_runs(kiln);
  if (choice.kiln_ms < choice.cudnn_ms) choice.chosen = ConvEngine::Kiln;
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    choice = t.choices.emplace(key, choice).first->second;
  }
  if (choice.chosen == ConvEngine::Kiln)
    kiln();
  else
    cudnn();
}

}  // namespace

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y) {
  run_with_engine(
      g, ConvDirection::Forward, [&] { conv2d_forward_cudnn(g, x, w, b, y); },
      [&] { conv2d_forward_kiln(g, x, w, b, y); });
}

void conv2d_backward_data(const Conv2dGeometry& g, const float* gy, const float* w, float* gx) {
  run_with_engine(
      g, ConvDirection::BackwardData, [&] { conv2d_backward_data_cudnn(g, gy, w, gx); },
      [&] { conv2d_backward_data_kiln(g, gy, w, gx); });
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* gy, float* gw,
                            float* gb) {
  run_with_engine(
      g, ConvDirection::BackwardWeight, [&] { conv2d_backward_weight_cudnn(g, x, gy, gw, gb); },
      [&] { conv2d_backward_weight_kiln(g, x, gy, gw, gb); });
}

std::vector<ConvEngineChoice> conv_engine_choices() {
  ChoiceTable& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  std::vector<ConvEngineChoice> out;
  out.reserve(t.choices.size());
  for (const auto& entry : t.choices) out.push_back(entry.second);
  return out;
}

}  // namespace kiln::kernels::cuda
