// Which cuDNN algorithms Kiln admits (kernels/cuda/conv_algorithms.h) and which math types it sets
// (kernels/cuda/library_math.h), on hand-made cuDNN result arrays: pure functions, so these run on
// the CPU in every CUDA build, no device needed. Builds without CUDA have no cuDNN header and skip
// the file.
#if KILN_WITH_CUDA

#include "kernels/cuda/conv_algorithms.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cuda/library_math.h"
#include "kernels/cuda_runtime.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;
using cuda::MathMode;

constexpr std::size_t kCap = std::size_t{1} << 30;
constexpr std::size_t kMiB = std::size_t{1} << 20;

template <typename Perf>
Perf perf(decltype(Perf::algo) algo, cudnnStatus_t status, cudnnDeterminism_t determinism,
          std::size_t memory, cudnnMathType_t math = CUDNN_FMA_MATH) {
  Perf p{};
  p.algo = algo;
  p.status = status;
  p.time = -1.f;
  p.memory = memory;
  p.determinism = determinism;
  p.mathType = math;
  return p;
}

// cuDNN answers a workspace query with the result's own `memory` (as a well-behaved cuDNN does),
// except for algorithms listed in `refused` (the query fails) or `sizes` (another size).
template <typename Perf>
struct FakeWorkspace {
  const std::vector<Perf>* results;
  std::map<int, std::size_t> sizes;
  std::vector<int> refused;
  mutable std::vector<cudnnMathType_t> asked_math;  // what each query was made for
  std::optional<std::size_t> operator()(decltype(Perf::algo) algo, cudnnMathType_t math) const {
    asked_math.push_back(math);
    const int a = static_cast<int>(algo);
    for (int r : refused) {
      if (r == a) return std::nullopt;
    }
    const auto found = sizes.find(a);
    if (found != sizes.end()) return found->second;
    for (const Perf& p : *results) {
      if (static_cast<int>(p.algo) == a) return p.memory;
    }
    return std::nullopt;
  }
};

template <typename Algo>
std::vector<int> algos_of(const std::vector<cuda::AlgoChoice<Algo>>& choices) {
  std::vector<int> out;
  for (const auto& c : choices) out.push_back(static_cast<int>(c.algo));
  return out;
}

// A heuristics answer for backward-filter as cuDNN gives it on large layers: the atomics-based
// ALGO_0 and ALGO_3 first (fastest), then deterministic ones, one failing, one huge.
std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> backward_filter_results() {
  using P = cudnnConvolutionBwdFilterAlgoPerf_t;
  return {
      perf<P>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC,
              0),
      perf<P>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC,
              4 * kMiB),
      perf<P>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC,
              2 * kCap),
      perf<P>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED, CUDNN_STATUS_NOT_SUPPORTED,
              CUDNN_DETERMINISTIC, 0),
      perf<P>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC,
              16 * kMiB),
      perf<P>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING, CUDNN_STATUS_SUCCESS,
              CUDNN_DETERMINISTIC, 64 * kMiB),
  };
}

TEST(CudnnAlgorithmFilter, DeterministicModeDropsAtomicBackwardFilterAlgorithms) {
  const auto results = backward_filter_results();
  FakeWorkspace<cudnnConvolutionBwdFilterAlgoPerf_t> ws{&results, {}, {}, {}};
  cuda::AlgoRejections why;
  const auto chosen =
      cuda::usable_algorithms(results.data(), static_cast<int>(results.size()), MathMode::FP32,
                              /*deterministic=*/true, kCap, ws, &why);
  // In cuDNN's order; ALGO_0 and ALGO_3 gone, FFT over the cap, WINOGRAD_NONFUSED failed.
  EXPECT_EQ(algos_of(chosen), (std::vector<int>{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING}));
  ASSERT_FALSE(chosen.empty());
  EXPECT_EQ(chosen.front().workspace, 16 * kMiB);
  EXPECT_TRUE(chosen.front().chosen);
  EXPECT_EQ(why.returned, 6);
  EXPECT_EQ(why.nondeterministic, 2);
  EXPECT_EQ(why.failed, 1);
  EXPECT_EQ(why.over_cap, 1);
  EXPECT_EQ(why.math, 0);
  EXPECT_EQ(why.unsupported, 0);
}

TEST(CudnnAlgorithmFilter, WithoutDeterministicModeTheFastestStaysFirst) {
  const auto results = backward_filter_results();
  FakeWorkspace<cudnnConvolutionBwdFilterAlgoPerf_t> ws{&results, {}, {}, {}};
  const auto chosen = cuda::usable_algorithms(results.data(), static_cast<int>(results.size()),
                                              MathMode::FP32, /*deterministic=*/false, kCap, ws);
  EXPECT_EQ(algos_of(chosen), (std::vector<int>{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3,
                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING}));
}

TEST(CudnnAlgorithmFilter, DeterministicModeDropsBackwardDataAlgo0) {
  using P = cudnnConvolutionBwdDataAlgoPerf_t;
  const std::vector<P> results = {
      perf<P>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC, 0),
      perf<P>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, kMiB),
      perf<P>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC,
              kMiB),
  };
  // The heuristics' memory says 1 MiB for ALGO_1, but cuDNN asked again needs 8 MiB: asked wins.
  FakeWorkspace<P> ws{&results,
                      {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, 8 * kMiB}},
                      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD},
                      {}};
  cuda::AlgoRejections why;
  const auto chosen =
      cuda::usable_algorithms(results.data(), 3, MathMode::FP32, true, kCap, ws, &why);
  EXPECT_EQ(algos_of(chosen), (std::vector<int>{CUDNN_CONVOLUTION_BWD_DATA_ALGO_1}));
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0].workspace, 8 * kMiB);
  EXPECT_EQ(why.nondeterministic, 1);
  EXPECT_EQ(why.unsupported, 1);  // the refused size query
  // A cap below the re-queried size turns it down even though its `memory` field would fit.
  const auto capped =
      cuda::usable_algorithms(results.data(), 3, MathMode::FP32, true, 4 * kMiB, ws, &why);
  EXPECT_TRUE(capped.empty());
  EXPECT_EQ(why.over_cap, 1);
}

TEST(CudnnAlgorithmFilter, NoDeterministicCandidateGivesEmptyWithTheReasons) {
  using P = cudnnConvolutionBwdDataAlgoPerf_t;
  const std::vector<P> results = {
      perf<P>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC, 0),
      perf<P>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_STATUS_ALLOC_FAILED, CUDNN_DETERMINISTIC, 0),
  };
  FakeWorkspace<P> ws{&results, {}, {}, {}};
  cuda::AlgoRejections why;
  EXPECT_TRUE(
      cuda::usable_algorithms(results.data(), 2, MathMode::FP32, true, kCap, ws, &why).empty());
  EXPECT_EQ(cuda::describe_rejections(why), "of 2 returned, 1 failed, 1 non-deterministic");
  // Without the setting the atomic algorithm is acceptable.
  EXPECT_EQ(cuda::usable_algorithms(results.data(), 2, MathMode::FP32, false, kCap, ws).size(), 1u);
}

TEST(CudnnAlgorithmFilter, OnlyTheReturnedCountIsRead) {
  using P = cudnnConvolutionFwdAlgoPerf_t;
  // cuDNN fills `returned` entries of a kCount-sized array; the rest is whatever was there.
  std::vector<P> results(
      3, perf<P>(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, 0));
  results[0].algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  FakeWorkspace<P> ws{&results, {}, {}, {}};
  EXPECT_EQ(algos_of(cuda::usable_algorithms(results.data(), 1, MathMode::FP32, true, kCap, ws)),
            (std::vector<int>{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM}));
  EXPECT_TRUE(cuda::usable_algorithms(results.data(), 0, MathMode::FP32, true, kCap, ws).empty());
}

TEST(CudnnAlgorithmFilter, FP32RunsAndSizesEveryAlgorithmWithFmaMath) {
  using P = cudnnConvolutionFwdAlgoPerf_t;
  const std::vector<P> results = {
      perf<P>(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_STATUS_SUCCESS,
              CUDNN_DETERMINISTIC, 0, CUDNN_TENSOR_OP_MATH),
      perf<P>(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, CUDNN_STATUS_SUCCESS,
              CUDNN_DETERMINISTIC, 0, CUDNN_DEFAULT_MATH),
  };
  FakeWorkspace<P> ws{&results, {}, {}, {}};
  const auto chosen = cuda::usable_algorithms(results.data(), 2, MathMode::FP32, false, kCap, ws);
  ASSERT_EQ(chosen.size(), 2u);
  for (const auto& c : chosen) EXPECT_EQ(c.math, CUDNN_FMA_MATH);
  EXPECT_EQ(ws.asked_math, (std::vector<cudnnMathType_t>{CUDNN_FMA_MATH, CUDNN_FMA_MATH}));
}

TEST(CudnnAlgorithmFilter, TF32RunsTheReportedMathButNeverDownConversion) {
  using P = cudnnConvolutionFwdAlgoPerf_t;
  const std::vector<P> results = {
      perf<P>(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_STATUS_SUCCESS,
              CUDNN_DETERMINISTIC, 0, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION),
      perf<P>(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC,
              0, CUDNN_DEFAULT_MATH),
      perf<P>(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, 0,
              CUDNN_FMA_MATH),
  };
  FakeWorkspace<P> ws{&results, {}, {}, {}};
  cuda::AlgoRejections why;
  const auto chosen =
      cuda::usable_algorithms(results.data(), 3, MathMode::TF32, false, kCap, ws, &why);
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(chosen[0].algo, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
  EXPECT_EQ(chosen[0].math, CUDNN_DEFAULT_MATH);
  EXPECT_EQ(chosen[1].math, CUDNN_FMA_MATH);
  EXPECT_EQ(why.math, 1);
}

// The math-type mapping (kernels/cuda/library_math.h, which quotes the cuDNN and cuBLAS docs).
TEST(LibraryMath, FP32ForbidsTF32InCudnnAndCublas) {
  EXPECT_EQ(cuda::cudnn_math_type(MathMode::FP32), CUDNN_FMA_MATH);
  EXPECT_EQ(cuda::cublas_math_mode(MathMode::FP32), CUBLAS_DEFAULT_MATH);
  for (cudnnMathType_t reported : {CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH,
                                   CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, CUDNN_FMA_MATH}) {
    EXPECT_EQ(cuda::cudnn_run_math(MathMode::FP32, reported), CUDNN_FMA_MATH) << reported;
  }
}

TEST(LibraryMath, TF32AllowsTF32InCudnnAndCublas) {
  // CUDNN_DEFAULT_MATH is the type cuDNN documents as permitting TF32 for FP32 data on sm_80+
  // (TENSOR_OP_MATH "will not actively perform datatype down conversion"); PyTorch sets the same.
  EXPECT_EQ(cuda::cudnn_math_type(MathMode::TF32), CUDNN_DEFAULT_MATH);
  EXPECT_EQ(cuda::cublas_math_mode(MathMode::TF32), CUBLAS_TF32_TENSOR_OP_MATH);
  EXPECT_EQ(cuda::cudnn_run_math(MathMode::TF32, CUDNN_DEFAULT_MATH), CUDNN_DEFAULT_MATH);
  EXPECT_EQ(cuda::cudnn_run_math(MathMode::TF32, CUDNN_TENSOR_OP_MATH), CUDNN_TENSOR_OP_MATH);
  EXPECT_EQ(cuda::cudnn_run_math(MathMode::TF32, CUDNN_FMA_MATH), CUDNN_FMA_MATH);
  // ALLOW_CONVERSION may down-convert FP32 tensors to FP16: never run.
  EXPECT_FALSE(cuda::cudnn_run_math(MathMode::TF32, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
}

}  // namespace
}  // namespace kiln

#endif  // KILN_WITH_CUDA
