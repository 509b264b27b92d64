// Which cuDNN convolution algorithms Kiln may run, from a heuristics or Find result array
// (cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t): a pure function of the array, the math
// mode, the deterministic setting and the workspace each candidate needs, so the CPU tests check
// it on hand-made arrays. kernels/cuda/conv2d.cu calls it with cuDNN's answers. Needs only the
// cuDNN header, no device.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cuda/library_math.h"
#include "kernels/cuda_runtime.h"

namespace kiln::kernels::cuda {

template <typename Algo>
struct AlgoChoice {
  bool chosen = false;
  Algo algo{};
  cudnnMathType_t math = CUDNN_FMA_MATH;  // what the descriptor is set to when this algo runs
  std::size_t workspace = 0;              // bytes
};

// How many results each test turned down: what the error says when no algorithm qualifies.
struct AlgoRejections {
  int returned = 0;
  int failed = 0;            // status other than CUDNN_STATUS_SUCCESS
  int nondeterministic = 0;  // CUDNN_NON_DETERMINISTIC, in deterministic mode
  int math = 0;              // a math type the mode may not run (cudnn_run_math)
  int unsupported = 0;       // the workspace query failed: not for this geometry after all
  int over_cap = 0;          // needs more workspace than the cap
};

inline std::string describe_rejections(const AlgoRejections& r) {
  std::string s = "of " + std::to_string(r.returned) + " returned";
  const auto add = [&s](int n, const char* what) {
    if (n > 0) s += ", " + std::to_string(n) + " " + what;
  };
  add(r.failed, "failed");
  add(r.nondeterministic, "non-deterministic");
  add(r.math, "with a math type this mode may not run");
  add(r.unsupported, "unsupported");
  add(r.over_cap, "over the workspace cap");
  return s;
}

// The algorithms in perf[0, count) that Kiln may run, in the array's order (cuDNN sorts heuristics
// best first and Find results fastest first). An algorithm qualifies when
//   - its status is CUDNN_STATUS_SUCCESS,
//   - in deterministic mode, its determinism is CUDNN_DETERMINISTIC (bwd-data ALGO_0 and
//     bwd-filter ALGO_0/ALGO_3 use atomics: cuDNN documents them as not reproducible run to run),
//   - the mode may run its reported math type (cudnn_run_math picks the type it runs with),
//   - workspace_of(algo, math) -> std::optional<std::size_t> gives its workspace for that math
//     type (nullopt: cuDNN would not size it) and that is at most `cap` bytes.
// The result's `memory` field is not trusted (it is not reliable everywhere); workspace_of asks.
// `why`, when given, counts the rejections.
template <typename Perf, typename WorkspaceOf>
std::vector<AlgoChoice<decltype(Perf::algo)>> usable_algorithms(const Perf* perf, int count,
                                                                MathMode mode, bool deterministic,
                                                                std::size_t cap,
                                                                const WorkspaceOf& workspace_of,
                                                                AlgoRejections* why = nullptr) {
  AlgoRejections tally;
  tally.returned = count;
  std::vector<AlgoChoice<decltype(Perf::algo)>> out;
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS) {
      ++tally.failed;
      continue;
    }
    if (deterministic && p.determinism != CUDNN_DETERMINISTIC) {
      ++tally.nondeterministic;
      continue;
    }
    const std::optional<cudnnMathType_t> math = cudnn_run_math(mode, p.mathType);
    if (!math) {
      ++tally.math;
      continue;
    }
    const std::optional<std::size_t> workspace = workspace_of(p.algo, *math);
    if (!workspace) {
      ++tally.unsupported;
      continue;
    }
    if (*workspace > cap) {
      ++tally.over_cap;
      continue;
    }
    AlgoChoice<decltype(Perf::algo)> c;
    c.chosen = true;
    c.algo = p.algo;
    c.math = *math;
    c.workspace = *workspace;
    out.push_back(c);
  }
  if (why != nullptr) *why = tally;
  return out;
}

}  // namespace kiln::kernels::cuda
