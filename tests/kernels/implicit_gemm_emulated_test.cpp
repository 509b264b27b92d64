// Kiln's tiled GEMM kernels (kernels/cuda/implicit_gemm_kernels.cuh), the very source nvcc builds,
// run on the CPU through a host emulation of CUDA (tests/support/cuda_emulation.h), so every CI
// build, GPU or not, tests the tiling: slab loads and their zero fill past the edges, the
// transposed shared-memory stores, the FP32 register micro-tile and the TF32 warp/fragment grid,
// double buffering, the epilogues, and split-K's partial layout and reduction. Each problem runs
// on both kernels and both block tiles, launched by run_implicit_gemm's own queue_implicit_gemm,
// once with the depth slices plan_gemm_tiling plans and once cut into 16-deep slices (split-K on
// every shape), and is compared with the naive evaluation of the same problem
// (tests/support/naive_implicit_gemm.h); implicit_gemm_test.cpp shows that evaluation is the
// convolution.
//
// Tolerance, relative to each output's sum of |terms| (the same problem evaluated on |inputs|):
//   FP32 1e-5: float sums of at most a few hundred terms err by well under 1e-5 of that sum.
//   TF32 2e-3: rounding each input to 10 mantissa bits (relative error <= 2^-11) moves a product by
//     at most ~1e-3 of its size, plus the float accumulation.
// A wrong index or a lost slab errs by whole terms, far beyond both. Outputs start as a sentinel
// and the split-K workspace as NaN, so a store that never happens cannot pass.
//
// Runtime: every emulated block is 256 OS threads, so the shapes are small (a few blocks each).

// clang-format off
// First of all: the CUDA built-ins that kernels/cuda/implicit_gemm_kernels.cuh is written in (it
// compiles here into kiln::kernels::cuda::emulated).
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda/implicit_gemm_kernels.cuh"
#include "kernels/implicit_gemm.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/naive_implicit_gemm.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

namespace emulated = cuda::emulated;
using test::kSentinelA;
using test::kSentinelB;
using test::random_floats;

// Runs p as run_implicit_gemm (kernels/cuda/implicit_gemm.cuh) does, through the same
// queue_implicit_gemm, under plan_gemm_tiling's tiling with the tile forced (small problems always
// plan 64) and, when k_per_split > 0, depth cut into slices of that depth (split-K on every
// shape). Checks that the kernels it chose ran, with the grid of the tiling.
template <int TILE, class Problem>
void run_emulated(const Problem& p, bool tf32, int k_per_split) {
  if (p.rows == 0 || p.cols == 0) return;
  GemmTiling tiling = plan_gemm_tiling(p.rows, p.cols, p.depth);
  tiling.tile = TILE;
  if (k_per_split > 0) {
    tiling.k_per_split = k_per_split;
    tiling.splits = std::max(1, (p.depth + k_per_split - 1) / k_per_split);
  }
  // The lease's workspace: garbage on the GPU, NaN here.
  std::vector<float> workspace(emulated::gemm_workspace_floats(p, tiling),
                               std::numeric_limits<float>::quiet_NaN());
  // Finer slices also cap the reduction's grid at 2 blocks, so its grid-stride loop wraps.
  const test::EmulatedLaunch launch(k_per_split > 0 ? 2 : 0);
  emulated::queue_implicit_gemm(launch, p, tf32, tiling,
                                workspace.empty() ? nullptr : workspace.data());
  const auto tiles = tf32 ? launch.shapes_of(emulated::gemm_tf32_kernel<Problem, TILE>)
                          : launch.shapes_of(emulated::gemm_fp32_kernel<Problem, TILE>);
  ASSERT_EQ(tiles.size(), 1u);
  EXPECT_EQ(tiles[0].grid.x, static_cast<unsigned>((p.cols + TILE - 1) / TILE));
  EXPECT_EQ(tiles[0].grid.y, static_cast<unsigned>((p.rows + TILE - 1) / TILE));
  EXPECT_EQ(tiles[0].grid.z, static_cast<unsigned>(tiling.splits));
  EXPECT_EQ(launch.shapes_of(emulated::splitk_reduce_kernel<Problem>).size(),
            tiling.splits > 1 ? 1u : 0u);
}

template <typename T>
std::vector<const T*> pointers(const std::vector<std::vector<T>>& operands) {
  std::vector<const T*> out;
  for (const auto& v : operands) out.push_back(v.data());
  return out;
}

// make(operands, out) builds the problem over operand pointers (float or double, in a fixed order)
// and an output buffer of out_size elements. Runs it on both kernels, both tiles and both slicings,
// and checks each output against the naive evaluation.
template <class MakeProblem>
void expect_kernels_match_naive(const std::vector<std::vector<float>>& operands,
                                std::int64_t out_size, MakeProblem make) {
  std::vector<std::vector<double>> exact, magnitude;
  for (const auto& v : operands) {
    exact.emplace_back(v.begin(), v.end());
    magnitude.emplace_back();
    for (const float e : v) magnitude.back().push_back(std::fabs(e));
  }
  std::vector<double> want(out_size, kSentinelA), scale(out_size, kSentinelA);
  test::evaluate_naively(make(pointers(exact), want.data()));
  test::evaluate_naively(make(pointers(magnitude), scale.data()));

  for (const bool tf32 : {false, true}) {
    for (const int tile : {64, 128}) {
      for (const bool split_all : {false, true}) {
        std::vector<float> got(out_size, kSentinelB);
        const auto p = make(pointers(operands), got.data());
        const int k_per_split = split_all ? kGemmDepthQuantum : 0;
        if (tile == 64) {
          run_emulated<64>(p, tf32, k_per_split);
        } else {
          run_emulated<128>(p, tf32, k_per_split);
        }
        const double tolerance = tf32 ? 2e-3 : 1e-5;
        for (std::int64_t i = 0; i < out_size; ++i) {
          if (!(std::fabs(got[i] - want[i]) <= tolerance * scale[i])) {
            ADD_FAILURE() << (tf32 ? "TF32" : "FP32") << " kernel, tile " << tile
                          << (split_all ? ", 16-deep slices" : ", planned slices") << ": element "
                          << i << " is " << got[i] << ", expected " << want[i] << " +- "
                          << tolerance * scale[i] << " (rows " << p.rows << ", cols " << p.cols
                          << ", depth " << p.depth << ")";
            break;
          }
        }
      }
    }
  }
}

template <class Out>
using Value = std::remove_pointer_t<Out>;

// Odd sizes: partial tiles on both sides, depth 37 ends inside a slab (and inside a slice when
// split). The operands are random storage; the naive side reads them through the same problem.
TEST(ImplicitGemmEmulated, MatrixProductAllTransposes) {
  const int m = 67, n = 70, k = 37;
  const auto a = random_floats(m * k, 41), b = random_floats(k * n, 42);
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "trans_a " << ta << " trans_b " << tb);
      expect_kernels_match_naive({a, b}, m * n, [&](const auto& in, auto* out) {
        return MatrixProductProblem<Value<decltype(out)>>{in[0], in[1], out, m, n, k, ta, tb};
      });
    }
  }
}

// Depth 0: no slab is ever multiplied, and every output is still stored (as 0).
TEST(ImplicitGemmEmulated, MatrixProductEmptyDepth) {
  const int m = 5, n = 6;
  expect_kernels_match_naive(
      std::vector<std::vector<float>>(2), m * n, [&](const auto& in, auto* out) {
        return MatrixProductProblem<Value<decltype(out)>>{in[0], in[1], out, m, n, 0, false, false};
      });
}

struct ConvCase {
  const char* name;
  Conv2dGeometry g;
};

std::ostream& operator<<(std::ostream& out, const ConvCase& c) { return out << c.name; }

// (n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w)
const ConvCase kConvCases[] = {
    {"3x3_pad1", {2, 3, 7, 9, 6, 3, 3, 1, 1, 1, 1}},
    {"3x3_stride2_pad1", {2, 5, 7, 9, 9, 3, 3, 2, 2, 1, 1}},
};

class ImplicitGemmEmulatedConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ImplicitGemmEmulatedConv, Forward) {
  const Conv2dGeometry& g = GetParam().g;
  const ConvShape d = make_conv_shape(g);
  expect_kernels_match_naive({random_floats(g.n * g.c * g.h * g.w, 11),
                              random_floats(g.k * g.c * g.r * g.s, 12), random_floats(g.k, 13)},
                             g.n * g.k * g.p() * g.q(), [&](const auto& in, auto* out) {
                               return ConvForwardProblem<Value<decltype(out)>>(d, in[0], in[1],
                                                                               in[2], out);
                             });
}

TEST_P(ImplicitGemmEmulatedConv, BackwardData) {
  const Conv2dGeometry& g = GetParam().g;
  const ConvShape d = make_conv_shape(g);
  expect_kernels_match_naive(
      {random_floats(g.n * g.k * g.p() * g.q(), 21), random_floats(g.k * g.c * g.r * g.s, 22)},
      g.n * g.c * g.h * g.w, [&](const auto& in, auto* out) {
        return ConvBackwardDataProblem<Value<decltype(out)>>(d, in[0], in[1], out);
      });
}

TEST_P(ImplicitGemmEmulatedConv, BackwardWeight) {
  const Conv2dGeometry& g = GetParam().g;
  const ConvShape d = make_conv_shape(g);
  expect_kernels_match_naive(
      {random_floats(g.n * g.c * g.h * g.w, 31), random_floats(g.n * g.k * g.p() * g.q(), 32)},
      g.k * g.c * g.r * g.s, [&](const auto& in, auto* out) {
        return ConvBackwardWeightProblem<Value<decltype(out)>>(d, in[0], in[1], out);
      });
}

INSTANTIATE_TEST_SUITE_P(Geometries, ImplicitGemmEmulatedConv, ::testing::ValuesIn(kConvCases),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return std::string(info.param.name);
                         });

// Long depth over a small output: plan_gemm_tiling itself splits depth (2 slices of 128, each
// several double-buffered steps), as for VGG's backward-weight.
TEST(ImplicitGemmEmulated, BackwardWeightWithPlannedSplitK) {
  const Conv2dGeometry g{4, 3, 8, 8, 8, 3, 3, 1, 1, 1, 1};
  const ConvShape d = make_conv_shape(g);
  ASSERT_GT(plan_gemm_tiling(d.k, d.crs, d.n * d.pq).splits, 1);
  expect_kernels_match_naive(
      {random_floats(g.n * g.c * g.h * g.w, 51), random_floats(g.n * g.k * g.p() * g.q(), 52)},
      g.k * g.c * g.r * g.s, [&](const auto& in, auto* out) {
        return ConvBackwardWeightProblem<Value<decltype(out)>>(d, in[0], in[1], out);
      });
}

}  // namespace
}  // namespace kiln::kernels
