// conv2d_*_cudnn: convolutions on cuDNN's legacy convolution API: NCHW float tensors, OIHW
// filters, cross-correlation.
// Outputs are overwritten (beta = 0: cuDNN then never reads them, so garbage or NaN in an output
// cannot leak in); inputs and outputs never alias (kernels/conv2d.h).
//
// Plans. Each (device, geometry, math mode, deterministic setting) gets one ConvPlan, created on
// first use and cached for the life of the process: the tensor, filter and convolution
// descriptors, plus one algorithm per direction (forward, backward-data, backward-filter), each
// chosen the first time that direction runs. The deterministic setting is part of the key, so an
// algorithm chosen without it is never reused with it. Choosing:
//   1. cudnnGet*Algorithm_v7 heuristics, best first (no benchmarking runs, so the first step is not
//      slowed and nothing extra is allocated);
//   2. keep the candidates usable_algorithms admits (kernels/cuda/conv_algorithms.h): status
//      success, CUDNN_DETERMINISTIC in deterministic mode, a math type the mode may run, and a
//      workspace, queried again with cudnnGet*WorkspaceSize for the math type it will run with,
//      within kWorkspaceCap. None left is an error naming the layer's geometry;
//   3. with KILN_CUDNN_FIND=1 and not in deterministic mode, time them once with
//      cudnnFind*AlgorithmEx on the call's own buffers (it writes only the output, which the call
//      overwrites anyway) and take the fastest that qualifies; otherwise take the first heuristic
//      candidate. Deterministic mode never times: two runs could time two algorithms in a
//      different order and so compute different bits, each algorithm deterministic on its own.
// Workspace comes from the device's grow-only arena (kernels/cuda/runtime.h).
//
// Math mode (kernels/cuda/library_math.h has the cuDNN documentation it rests on). The query runs
// with cudnn_math_type(mode) on the descriptor: CUDNN_FMA_MATH for FP32 (TF32 kernels are not even
// considered), CUDNN_DEFAULT_MATH for TF32 (the type cuDNN documents as permitting TF32 for FP32
// data). FP32 then runs every algorithm with CUDNN_FMA_MATH whatever was reported: exact FP32,
// never TF32. TF32 runs each algorithm with the math type cuDNN reported for it, as cuDNN asks,
// except one that would down-convert to FP16.
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/conv_algorithms.h"
#include "kernels/cuda/runtime.h"

namespace kiln::kernels::cuda {
namespace {

// The most workspace one convolution may use. Faster algorithms (FFT, some Winograd variants) can
// ask for more on large layers; a gigabyte keeps VGG16 at batch 256 well inside any 16 GB card.
constexpr std::size_t kWorkspaceCap = std::size_t{1} << 30;

std::string describe(const Conv2dGeometry& g) {
  return ::kiln::detail::concat("conv2d x [", g.n, ",", g.c, ",", g.h, ",", g.w, "] w [", g.k, ",",
                                g.c, ",", g.r, ",", g.s, "] stride (", g.stride_h, ",", g.stride_w,
                                ") pad (", g.pad_h, ",", g.pad_w, ")");
}

[[noreturn]] void throw_cudnn(cudnnStatus_t status, const char* expression, const char* file,
                              int line, const Conv2dGeometry& g) {
  throw ::kiln::Error(::kiln::detail::concat("cuDNN error ", static_cast<int>(status), " (",
                                             cudnnGetErrorString(status), ") in ", expression,
                                             " at ", file, ":", line, " for ", describe(g)));
}

// CUDNN_CHECK that also names the convolution's geometry.
#define KILN_CONV_CHECK(expr, g)                                    \
  do {                                                              \
    const cudnnStatus_t kiln_conv_status_ = (expr);                 \
    if (kiln_conv_status_ != CUDNN_STATUS_SUCCESS) {                \
      throw_cudnn(kiln_conv_status_, #expr, __FILE__, __LINE__, g); \
    }                                                               \
  } while (0)

bool find_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("KILN_CUDNN_FIND");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }();
  return enabled;
}

int to_int(std::int64_t v, const char* what, const Conv2dGeometry& g) {
  KILN_CHECK(v >= 0 && v <= INT_MAX, "conv2d on CUDA: ", what, " = ", v,
             " does not fit cuDNN's int descriptors for ", describe(g));
  return static_cast<int>(v);
}

// RAII cuDNN descriptors. Destroying one is host-only work, safe at any time.
struct TensorDesc {
  cudnnTensorDescriptor_t desc = nullptr;
  TensorDesc() { CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc)); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(desc); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  void set(int n, int c, int h, int w, const Conv2dGeometry& g) {
    KILN_CONV_CHECK(
        cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w), g);
  }
};

struct FilterDesc {
  cudnnFilterDescriptor_t desc = nullptr;
  FilterDesc() { CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc)); }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(desc); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t desc = nullptr;
  ConvDesc() { CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc)); }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(desc); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

struct ConvPlan {
  Conv2dGeometry g;
  MathMode mode;
  bool deterministic;  // only CUDNN_DETERMINISTIC algorithms, never timed
  TensorDesc x;        // (N, C, H, W)
  TensorDesc y;        // (N, K, P, Q)
  TensorDesc bias;     // (1, K, 1, 1), broadcast over N, P, Q
  FilterDesc w;        // (K, C, R, S)
  ConvDesc conv;
  AlgoChoice<cudnnConvolutionFwdAlgo_t> forward;
  AlgoChoice<cudnnConvolutionBwdDataAlgo_t> backward_data;
  AlgoChoice<cudnnConvolutionBwdFilterAlgo_t> backward_filter;

  ConvPlan(const Conv2dGeometry& geometry, MathMode math_mode, bool deterministic_mode)
      : g(geometry), mode(math_mode), deterministic(deterministic_mode) {
    const int n = to_int(g.n, "N", g), c = to_int(g.c, "C", g), h = to_int(g.h, "H", g),
              wd = to_int(g.w, "W", g), k = to_int(g.k, "K", g), r = to_int(g.r, "R", g),
              s = to_int(g.s, "S", g), p = to_int(g.p(), "P", g), q = to_int(g.q(), "Q", g);
    // cuDNN's 4-d descriptors hold int strides: every tensor must have fewer than 2^31 elements.
    to_int(g.n * g.c * g.h * g.w, "N*C*H*W", g);
    to_int(g.n * g.k * g.p() * g.q(), "N*K*P*Q", g);
    x.set(n, c, h, wd, g);
    y.set(n, k, p, q, g);
    bias.set(1, k, 1, 1, g);
    KILN_CONV_CHECK(
        cudnnSetFilter4dDescriptor(w.desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, r, s), g);
    KILN_CONV_CHECK(
        cudnnSetConvolution2dDescriptor(
            conv.desc, to_int(g.pad_h, "pad_h", g), to_int(g.pad_w, "pad_w", g),
            to_int(g.stride_h, "stride_h", g), to_int(g.stride_w, "stride_w", g),
            /*dilation_h=*/1, /*dilation_w=*/1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
        g);
    // Cross-check our output size against cuDNN's, so a disagreement fails here, loudly.
    int on = 0, ok = 0, op = 0, oq = 0;
    KILN_CONV_CHECK(
        cudnnGetConvolution2dForwardOutputDim(conv.desc, x.desc, w.desc, &on, &ok, &op, &oq), g);
    KILN_CHECK(on == n && ok == k && op == p && oq == q, "conv2d on CUDA: cuDNN computes output [",
               on, ",", ok, ",", op, ",", oq, "], Kiln [", n, ",", k, ",", p, ",", q, "] for ",
               describe(g));
  }
};

using PlanKey = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                           std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                           std::int64_t, std::int64_t, int, bool>;

// The plan for this device, geometry, math mode and deterministic setting. Plans live as long as
// the process (leaked on purpose, like the handles they are used with). The map has its own lock;
// a plan's algorithm choices are written only under the device's lease, and plans are per device.
ConvPlan& plan_for(int device, const Conv2dGeometry& g, MathMode mode, bool deterministic_mode) {
  static std::mutex* const mutex = new std::mutex();
  static auto* const plans = new std::map<PlanKey, std::unique_ptr<ConvPlan>>();
  const PlanKey key =
      std::make_tuple(device, g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.stride_h, g.stride_w, g.pad_h,
                      g.pad_w, static_cast<int>(mode), deterministic_mode);
  std::lock_guard<std::mutex> lock(*mutex);
  auto& slot = (*plans)[key];
  if (!slot) slot = std::make_unique<ConvPlan>(g, mode, deterministic_mode);
  return *slot;
}

// The plan for the current settings.
ConvPlan& current_plan(int device, const Conv2dGeometry& g) {
  return plan_for(device, g, math_mode(), deterministic());
}

// The three directions, so one chooser serves them all. `a`, `b` are the op's inputs and `out`
// its output, in the order cudnnFind*Ex takes them.
struct ForwardOp {
  using Algo = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static constexpr const char* kName = "forward";
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvPlan& p, int* returned, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.desc, p.w.desc, p.conv.desc, p.y.desc,
                                                  kCount, returned, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, Algo algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x.desc, p.w.desc, p.conv.desc, p.y.desc,
                                                   algo, bytes);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvPlan& p, const void* x, const void* w,
                            void* y, int* returned, Perf* perf, void* ws, std::size_t ws_bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, p.x.desc, x, p.w.desc, w, p.conv.desc,
                                                  p.y.desc, y, kCount, returned, perf, ws,
                                                  ws_bytes);
  }
};

struct BackwardDataOp {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static constexpr const char* kName = "backward-data";
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvPlan& p, int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.desc, p.y.desc, p.conv.desc, p.x.desc,
                                                       kCount, returned, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, Algo algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w.desc, p.y.desc, p.conv.desc,
                                                        p.x.desc, algo, bytes);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvPlan& p, const void* w, const void* gy,
                            void* gx, int* returned, Perf* perf, void* ws, std::size_t ws_bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w.desc, w, p.y.desc, gy, p.conv.desc,
                                                       p.x.desc, gx, kCount, returned, perf, ws,
                                                       ws_bytes);
  }
};

struct BackwardFilterOp {
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static constexpr const char* kName = "backward-filter";
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvPlan& p, int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.desc, p.y.desc, p.conv.desc,
                                                         p.w.desc, kCount, returned, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, Algo algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x.desc, p.y.desc, p.conv.desc,
                                                          p.w.desc, algo, bytes);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvPlan& p, const void* x, const void* gy,
                            void* gw, int* returned, Perf* perf, void* ws, std::size_t ws_bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x.desc, x, p.y.desc, gy, p.conv.desc,
                                                         p.w.desc, gw, kCount, returned, perf, ws,
                                                         ws_bytes);
  }
};

template <typename Op>
AlgoChoice<typename Op::Algo> choose(DeviceLease& lease, ConvPlan& plan, const void* a,
                                     const void* b, void* out) {
  const Conv2dGeometry& g = plan.g;
  cudnnHandle_t h = lease.cudnn();
  typename Op::Perf perf[Op::kCount];
  int returned = 0;
  KILN_CONV_CHECK(cudnnSetConvolutionMathType(plan.conv.desc, cudnn_math_type(plan.mode)), g);
  KILN_CONV_CHECK(Op::heuristics(h, plan, &returned, perf), g);

  // The workspace for the math type the algorithm will run with; nullopt when cuDNN will not size
  // it (the algorithm does not support this geometry after all).
  const auto workspace_of = [&](typename Op::Algo algo,
                                cudnnMathType_t math) -> std::optional<std::size_t> {
    KILN_CONV_CHECK(cudnnSetConvolutionMathType(plan.conv.desc, math), g);
    std::size_t bytes = 0;
    if (Op::workspace(h, plan, algo, &bytes) != CUDNN_STATUS_SUCCESS) return std::nullopt;
    return bytes;
  };
  AlgoRejections why;
  const std::vector<AlgoChoice<typename Op::Algo>> candidates = usable_algorithms(
      perf, returned, plan.mode, plan.deterministic, kWorkspaceCap, workspace_of, &why);
  KILN_CHECK(!candidates.empty(), "conv2d on CUDA: cuDNN offers no ",
             plan.deterministic ? "deterministic " : "", Op::kName, " algorithm (",
             describe_rejections(why), "; workspace cap ", kWorkspaceCap, " bytes) for ",
             describe(g),
             plan.deterministic ? "; deterministic mode admits only algorithms cuDNN flags "
                                  "CUDNN_DETERMINISTIC (Kiln's own engine, --conv-engine kiln, is "
                                  "deterministic)"
                                : "");
  if (!find_enabled() || plan.deterministic) return candidates.front();

  // Benchmark once, with enough workspace for every candidate the heuristics offered.
  std::size_t ws_bytes = 0;
  for (const auto& c : candidates) ws_bytes = std::max(ws_bytes, c.workspace);
  void* ws = lease.workspace(ws_bytes);
  KILN_CONV_CHECK(cudnnSetConvolutionMathType(plan.conv.desc, cudnn_math_type(plan.mode)), g);
  KILN_CONV_CHECK(Op::find(h, plan, a, b, out, &returned, perf, ws, ws_bytes), g);
  // Sorted fastest first; the same admission rules, with the workspace Find was given as the cap.
  const std::vector<AlgoChoice<typename Op::Algo>> timed =
      usable_algorithms(perf, returned, plan.mode, plan.deterministic, ws_bytes, workspace_of);
  // Find timed nothing usable: the heuristics' choice still stands.
  return timed.empty() ? candidates.front() : timed.front();
}

// Sets the descriptor's math type for `choice` and returns its workspace.
template <typename Algo>
void* prepare(DeviceLease& lease, ConvPlan& plan, const AlgoChoice<Algo>& choice) {
  KILN_CONV_CHECK(cudnnSetConvolutionMathType(plan.conv.desc, choice.math), plan.g);
  return lease.workspace(choice.workspace);
}

void zero(void* ptr, std::size_t bytes, cudaStream_t s) {
  if (bytes != 0) CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, s));
}

std::size_t float_bytes(std::int64_t n) { return sizeof(float) * static_cast<std::size_t>(n); }

// gb (K) = sums of gy (N,K,P,Q) over N, P, Q, with throwaway descriptors (used only where no plan
// can exist: zero input channels).
void bias_gradient_without_plan(DeviceLease& lease, const Conv2dGeometry& g, const float* gy,
                                float* gb) {
  TensorDesc y, bias;
  y.set(to_int(g.n, "N", g), to_int(g.k, "K", g), to_int(g.p(), "P", g), to_int(g.q(), "Q", g), g);
  bias.set(1, to_int(g.k, "K", g), 1, 1, g);
  const float one = 1.f, zero_f = 0.f;
  KILN_CONV_CHECK(
      cudnnConvolutionBackwardBias(lease.cudnn(), &one, y.desc, gy, &zero_f, bias.desc, gb), g);
}

}  // namespace

void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                          float* y) {
  const std::int64_t y_count = g.n * g.k * g.p() * g.q();
  if (y_count == 0) return;
  DeviceLease lease;
  const float one = 1.f, zero_f = 0.f;
  if (g.c == 0) {  // an empty sum: y is the bias alone (cuDNN has no descriptor for C = 0)
    zero(y, float_bytes(y_count), lease.stream());
    if (b != nullptr) {
      TensorDesc yd, bias;
      yd.set(to_int(g.n, "N", g), to_int(g.k, "K", g), to_int(g.p(), "P", g), to_int(g.q(), "Q", g),
             g);
      bias.set(1, to_int(g.k, "K", g), 1, 1, g);
      KILN_CONV_CHECK(cudnnAddTensor(lease.cudnn(), &one, bias.desc, b, &one, yd.desc, y), g);
    }
    return;
  }
  ConvPlan& plan = current_plan(lease.device(), g);
  if (!plan.forward.chosen) plan.forward = choose<ForwardOp>(lease, plan, x, w, y);
  void* ws = prepare(lease, plan, plan.forward);
  cudnnHandle_t h = lease.cudnn();
  KILN_CONV_CHECK(cudnnConvolutionForward(h, &one, plan.x.desc, x, plan.w.desc, w, plan.conv.desc,
                                          plan.forward.algo, ws, plan.forward.workspace, &zero_f,
                                          plan.y.desc, y),
                  g);
  // y += b, broadcast over N, P, Q.
  if (b != nullptr)
    KILN_CONV_CHECK(cudnnAddTensor(h, &one, plan.bias.desc, b, &one, plan.y.desc, y), g);
}

void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* gy, const float* w,
                                float* gx) {
  const std::int64_t x_count = g.n * g.c * g.h * g.w;
  if (x_count == 0) return;
  DeviceLease lease;
  if (g.k == 0) {  // no output channel reads x: its gradient is zero
    zero(gx, float_bytes(x_count), lease.stream());
    return;
  }
  ConvPlan& plan = current_plan(lease.device(), g);
  if (!plan.backward_data.chosen) {
    plan.backward_data = choose<BackwardDataOp>(lease, plan, w, gy, gx);
  }
  void* ws = prepare(lease, plan, plan.backward_data);
  const float one = 1.f, zero_f = 0.f;
  KILN_CONV_CHECK(
      cudnnConvolutionBackwardData(lease.cudnn(), &one, plan.w.desc, w, plan.y.desc, gy,
                                   plan.conv.desc, plan.backward_data.algo, ws,
                                   plan.backward_data.workspace, &zero_f, plan.x.desc, gx),
      g);
}

void conv2d_backward_weight_cudnn(const Conv2dGeometry& g, const float* x, const float* gy,
                                  float* gw, float* gb) {
  const std::int64_t w_count = g.k * g.c * g.r * g.s;
  if (w_count == 0 && (gb == nullptr || g.k == 0)) return;
  DeviceLease lease;
  if (g.n == 0) {  // an empty batch: both gradients are empty sums
    zero(gw, float_bytes(w_count), lease.stream());
    if (gb != nullptr) zero(gb, float_bytes(g.k), lease.stream());
    return;
  }
  if (g.c == 0) {  // gw is empty; gb still sums gy
    if (gb != nullptr) bias_gradient_without_plan(lease, g, gy, gb);
    return;
  }
  ConvPlan& plan = current_plan(lease.device(), g);
  if (!plan.backward_filter.chosen) {
    plan.backward_filter = choose<BackwardFilterOp>(lease, plan, x, gy, gw);
  }
  void* ws = prepare(lease, plan, plan.backward_filter);
  cudnnHandle_t h = lease.cudnn();
  const float one = 1.f, zero_f = 0.f;
  KILN_CONV_CHECK(
      cudnnConvolutionBackwardFilter(h, &one, plan.x.desc, x, plan.y.desc, gy, plan.conv.desc,
                                     plan.backward_filter.algo, ws, plan.backward_filter.workspace,
                                     &zero_f, plan.w.desc, gw),
      g);
  if (gb != nullptr) {
    KILN_CONV_CHECK(
        cudnnConvolutionBackwardBias(h, &one, plan.y.desc, gy, &zero_f, plan.bias.desc, gb), g);
  }
}

}  // namespace kiln::kernels::cuda
