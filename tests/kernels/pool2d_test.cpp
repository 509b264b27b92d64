// Max pooling: both paths against hand-worked windows (ties, padding, overlap, NaN), then the fast
// path against the reference on random data. The two visit each window in the same order with
// the same comparison and scatter gradients in the same order, so they must agree exactly.
#include "kernels/pool2d.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;

constexpr std::int32_t kArgmaxSentinelA = -7, kArgmaxSentinelB = -9;

template <typename T>
struct PoolKernels {  // one implementation of forward and backward
  void (*forward)(const Pool2dGeometry&, const T*, T*, std::int32_t*);
  void (*backward)(const Pool2dGeometry&, const T*, const std::int32_t*, T*);
};

template <typename T>
struct PoolResult {
  std::vector<T> y;                  // (N, C, P, Q)
  std::vector<std::int32_t> argmax;  // (N, C, P, Q)
  std::vector<T> gx;                 // (N, C, H, W)
};

template <typename T>
PoolResult<T> run(const PoolKernels<T>& kernels, const Pool2dGeometry& g, const std::vector<T>& x,
                  const std::vector<T>& gy) {
  const std::size_t out = g.n * g.c * g.p() * g.q();
  PoolResult<T> r{std::vector<T>(out, kSentinelA), std::vector<std::int32_t>(out, kArgmaxSentinelA),
                  std::vector<T>(x.size(), kSentinelA)};
  kernels.forward(g, x.data(), r.y.data(), r.argmax.data());
  kernels.backward(g, gy.data(), r.argmax.data(), r.gx.data());
  return r;
}

// ---------------------------------------------------------------------------------------------
// Hand-worked cases, run on every implementation.

template <typename T>
void check_hand_cases(const PoolKernels<T>& kernels) {
  {
    // 2x2 windows, stride 2, on two 4x4 planes; the second plane is the first negated.
    //   plane 0:  1 3 | 2 0     plane 1: -1 -3 | -2  0
    //             4 2 | 1 5              -4 -2 | -1 -5
    //             ----+----              ------+------
    //             0 6 | 7 7               0 -6 | -7 -7
    //             8 1 | 7 3              -8 -1 | -7 -3
    // Plane 0 maxima: 4 at (1,0) = 4, 5 at (1,3) = 7, 8 at (3,0) = 12, and 7 three times in the
    // last window: the first in row-major order, (2,2) = 10, wins.
    // Plane 1 maxima: -1 at (0,0) = 0, 0 at (0,3) = 3, 0 at (2,0) = 8, -3 at (3,3) = 15.
    // The backward sends each output's gy to its winner and zero elsewhere.
    const Pool2dGeometry g{1, 2, 4, 4, 2, 2, 2, 2};
    std::vector<T> x = {1, 3, 2, 0, 4, 2, 1, 5, 0, 6, 7, 7, 8, 1, 7, 3};
    for (int i = 0; i < 16; ++i) x.push_back(-x[i]);
    const std::vector<T> gy = {10, 20, 30, 40, 1, 2, 3, 4};
    const auto r = run(kernels, g, x, gy);
    EXPECT_EQ(r.y, (std::vector<T>{4, 5, 8, 7, -1, 0, 0, -3}));
    EXPECT_EQ(r.argmax, (std::vector<std::int32_t>{4, 7, 12, 10, 0, 3, 8, 15}));
    std::vector<T> gx(32, 0);
    gx[4] = 10, gx[7] = 20, gx[12] = 30, gx[10] = 40;
    gx[16 + 0] = 1, gx[16 + 3] = 2, gx[16 + 8] = 3, gx[16 + 15] = 4;
    EXPECT_EQ(r.gx, gx);
  }
  {
    // 3x3 windows, stride 2, padding 1 on the all-negative plane -1..-9. Windows cover rows/cols
    // {-1,0,1} and {1,2,3}; were padding a zero it would win all four. It must not:
    //   window (0,0) sees -1 -2 / -4 -5 -> -1 at 0;  window (0,1) sees -2 -3 / -5 -6 -> -2 at 1
    //   window (1,0) sees -4 -5 / -7 -8 -> -4 at 3;  window (1,1) sees -5 -6 / -8 -9 -> -5 at 4
    const Pool2dGeometry g{1, 1, 3, 3, 3, 3, 2, 2, 1, 1};
    const std::vector<T> x = {-1, -2, -3, -4, -5, -6, -7, -8, -9}, gy = {1, 2, 3, 4};
    const auto r = run(kernels, g, x, gy);
    EXPECT_EQ(r.y, (std::vector<T>{-1, -2, -4, -5}));
    EXPECT_EQ(r.argmax, (std::vector<std::int32_t>{0, 1, 3, 4}));
    EXPECT_EQ(r.gx, (std::vector<T>{1, 2, 0, 3, 4, 0, 0, 0, 0}));
  }
  {
    // The same overlapping windows with a 5 in the centre, which lies in all four: it wins them
    // all, and the backward must SUM their gradients there: 1 + 2 + 3 + 4 = 10.
    const Pool2dGeometry g{1, 1, 3, 3, 3, 3, 2, 2, 1, 1};
    const std::vector<T> x = {-1, -2, -3, -4, 5, -6, -7, -8, -9}, gy = {1, 2, 3, 4};
    const auto r = run(kernels, g, x, gy);
    EXPECT_EQ(r.y, (std::vector<T>{5, 5, 5, 5}));
    EXPECT_EQ(r.argmax, (std::vector<std::int32_t>{4, 4, 4, 4}));
    EXPECT_EQ(r.gx, (std::vector<T>{0, 0, 0, 0, 10, 0, 0, 0, 0}));
  }
  {
    // A NaN wins its window (the first NaN, at 1), so a diverged activation is not hidden.
    const Pool2dGeometry g{1, 1, 2, 2, 2, 2, 2, 2};
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> x = {1, nan, 3, nan}, gy = {5};
    const auto r = run(kernels, g, x, gy);
    EXPECT_TRUE(std::isnan(r.y[0]));
    EXPECT_EQ(r.argmax, (std::vector<std::int32_t>{1}));
    EXPECT_EQ(r.gx, (std::vector<T>{0, 5, 0, 0}));
  }
}

TEST(MaxPool2dHandComputed, ReferenceFloat) {
  check_hand_cases<float>(
      {max_pool2d_forward_reference<float>, max_pool2d_backward_reference<float>});
}

TEST(MaxPool2dHandComputed, ReferenceDouble) {
  check_hand_cases<double>(
      {max_pool2d_forward_reference<double>, max_pool2d_backward_reference<double>});
}

TEST(MaxPool2dHandComputed, Fast) {
  check_hand_cases<float>({max_pool2d_forward_fast, max_pool2d_backward_fast});
}

TEST(MaxPool2dChecks, RejectsPaddingAsWideAsTheWindow) {
  // pad 2 with a 2x2 window: the first window would lie wholly in the padding.
  const Pool2dGeometry g{1, 1, 4, 4, 2, 2, 2, 2, 2, 0};
  std::vector<float> x(16, 0.f), y(g.p() * g.q());
  std::vector<std::int32_t> argmax(y.size());
  EXPECT_THROW(max_pool2d_forward_reference(g, x.data(), y.data(), argmax.data()), kiln::Error);
  EXPECT_THROW(max_pool2d_forward_fast(g, x.data(), y.data(), argmax.data()), kiln::Error);
}

// ---------------------------------------------------------------------------------------------
// Fast against reference on random data.

struct PoolCase {
  const char* name;
  Pool2dGeometry g;  // {n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w}
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }  // names in failure messages

const PoolCase kCases[] = {
    {"Window2x2Stride2", {2, 3, 8, 8, 2, 2, 2, 2}},
    {"Window3x3Stride2Pad1Overlapping", {2, 3, 9, 7, 3, 3, 2, 2, 1, 1}},
    {"Window2x2Stride2OddSizeDropsLast", {1, 4, 7, 5, 2, 2, 2, 2}},
    {"Window3x2Stride1x2Pad1x0", {3, 2, 6, 9, 3, 2, 1, 2, 1, 0}},
};

class MaxPool2dReferenceVsFast : public ::testing::TestWithParam<PoolCase> {
 protected:
  void compare(const std::vector<float>& x, std::uint64_t seed) {
    const Pool2dGeometry& g = GetParam().g;
    const auto gy = test::random_floats(g.n * g.c * g.p() * g.q(), seed);
    const auto ref = run<float>(
        {max_pool2d_forward_reference<float>, max_pool2d_backward_reference<float>}, g, x, gy);
    const std::size_t out = gy.size();
    PoolResult<float> fast{std::vector<float>(out, kSentinelB),
                           std::vector<std::int32_t>(out, kArgmaxSentinelB),
                           std::vector<float>(x.size(), kSentinelB)};
    max_pool2d_forward_fast(g, x.data(), fast.y.data(), fast.argmax.data());
    max_pool2d_backward_fast(g, gy.data(), fast.argmax.data(), fast.gx.data());
    EXPECT_EQ(ref.y, fast.y);
    EXPECT_EQ(ref.argmax, fast.argmax);
    EXPECT_EQ(ref.gx, fast.gx);
  }
};

TEST_P(MaxPool2dReferenceVsFast, RandomValues) {
  const Pool2dGeometry& g = GetParam().g;
  compare(test::random_floats(g.n * g.c * g.h * g.w, 61), 62);
}

// Values from {-2, ..., 2}: most windows hold ties, so both paths must break them the same way.
TEST_P(MaxPool2dReferenceVsFast, ManyTies) {
  const Pool2dGeometry& g = GetParam().g;
  const auto ints = test::random_ints(g.n * g.c * g.h * g.w, 63, -2, 3);
  compare(std::vector<float>(ints.begin(), ints.end()), 64);
}

INSTANTIATE_TEST_SUITE_P(Geometries, MaxPool2dReferenceVsFast, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<PoolCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace kiln::kernels::cpu
