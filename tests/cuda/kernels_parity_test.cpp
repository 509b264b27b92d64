// Hand-written CUDA kernels against their CPU twins: elementwise ops, the sum reduction, relu,
// dropout and max pooling. Fresh random inputs (tests/support/test_data.h) go through both; the
// CPU outputs are pre-filled with kSentinelA and the device outputs with kSentinelB, so an element
// a kernel never writes cannot match.
//
// Tolerances, and why most are zero: add, mul, scale, relu and dropout's y = x * mask are one IEEE
// operation per element on both devices; axpy is a multiply and an add that the CUDA kernel keeps
// separately rounded (__fmul_rn/__fadd_rn, no FMA), as the CPU does; pooling compares the same
// values in the same order, and the backward's gather adds in the CPU's order; the dropout mask is
// the same double comparison of the same counter-based random number. So all of these are
// bitwise. Only the sum is reordered (a tree on the GPU, a sequential loop on the CPU), and is
// held to the rounding bound of double summation.
// Sizes are odd and larger than one grid (4096 blocks x 256 threads), so grid-stride loops wrap
// and no kernel may assume a multiple of the block size.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/augment.h"
#include "kernels/device_memory.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/pool2d.h"
#include "tests/cuda/device_vector.h"
#include "tests/cuda/parity.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;
using test::DeviceVector;
using test::kSentinelA;
using test::kSentinelB;

constexpr std::int64_t kN = (1 << 20) + 4099;  // > 4096 * 256: the grid-stride loops wrap

// ---------------------------------------------------------------------------------------------
// Elementwise

TEST(CudaKernelParity, AddMulScaleAreBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  const auto a = test::random_floats(kN, 1), b = test::random_floats(kN, 2);
  const DeviceVector<float> da(a), db(b);
  {
    std::vector<float> y(kN, kSentinelA);
    cpu::add_reference(kN, a.data(), b.data(), y.data());
    DeviceVector<float> dy(kN, kSentinelB);
    cuda::add(kN, da.get(), db.get(), dy.get());
    test::expect_bitwise_equal(y, dy.download(), "add");
  }
  {
    std::vector<float> y(kN, kSentinelA);
    cpu::mul_reference(kN, a.data(), b.data(), y.data());
    DeviceVector<float> dy(kN, kSentinelB);
    cuda::mul(kN, da.get(), db.get(), dy.get());
    test::expect_bitwise_equal(y, dy.download(), "mul");
  }
  {
    std::vector<float> y(kN, kSentinelA);
    cpu::scale_reference(kN, a.data(), -0.37f, y.data());
    DeviceVector<float> dy(kN, kSentinelB);
    cuda::scale(kN, da.get(), -0.37f, dy.get());
    test::expect_bitwise_equal(y, dy.download(), "scale");
  }
}

TEST(CudaKernelParity, InPlaceAddAndScale) {
  KILN_REQUIRE_CUDA();
  const std::int64_t n = 100003;
  const auto a = test::random_floats(n, 3), b = test::random_floats(n, 4);
  std::vector<float> y = a;
  cpu::add_reference(n, y.data(), b.data(), y.data());  // y = a + b, in place
  cpu::scale_reference(n, y.data(), 3.f, y.data());     // y *= 3, in place
  DeviceVector<float> dy(a);
  const DeviceVector<float> db(b);
  cuda::add(n, dy.get(), db.get(), dy.get());
  cuda::scale(n, dy.get(), 3.f, dy.get());
  test::expect_bitwise_equal(y, dy.download(), "in-place add then scale");
}

TEST(CudaKernelParity, AxpyAccumulatesBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  const auto x = test::random_floats(kN, 5);
  std::vector<float> y = test::random_floats(kN, 6);  // axpy accumulates: y starts non-zero
  DeviceVector<float> dy(y);
  const DeviceVector<float> dx(x);
  cpu::axpy_reference(kN, 0.731f, x.data(), y.data());
  cuda::axpy(kN, 0.731f, dx.get(), dy.get());
  test::expect_bitwise_equal(y, dy.download(), "axpy");
}

TEST(CudaKernelParity, SumMatchesWithinDoubleRounding) {
  KILN_REQUIRE_CUDA();
  for (const std::int64_t n : {std::int64_t{1}, std::int64_t{255}, std::int64_t{4097}, kN,
                               std::int64_t{5} * (1 << 20) + 3}) {
    const auto a = test::random_floats(n, 7 + n, -1.f, 3.f);  // a non-zero mean
    const double expected = cpu::sum_reference(n, a.data());
    double magnitude = 0.0;
    for (float v : a) magnitude += std::abs(static_cast<double>(v));
    const DeviceVector<float> da(a);
    const double got = cuda::sum(n, da.get());
    // Each of the two summations (sequential; a tree of depth < n) errs by at most
    // (n - 1) * 2^-53 * sum|a| (the standard bound for recursive summation in double).
    EXPECT_NEAR(got, expected, 2.0 * n * 0x1.0p-53 * magnitude) << "n = " << n;
  }
  EXPECT_EQ(cuda::sum(0, nullptr), 0.0);
}

TEST(CudaKernelParity, SumIsDeterministic) {
  KILN_REQUIRE_CUDA();
  const auto a = test::random_floats(kN, 8);
  const DeviceVector<float> da(a);
  const double first = cuda::sum(kN, da.get());
  for (int run = 0; run < 5; ++run) EXPECT_EQ(cuda::sum(kN, da.get()), first) << "run " << run;
}

TEST(CudaKernelParity, ReluForwardAndBackwardBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  auto x = test::random_floats(kN, 9);
  // The traps: exact zeros (gradient 0), negative zero, and NaN (must propagate).
  for (std::int64_t i = 0; i < kN; i += 97) x[i] = 0.f;
  for (std::int64_t i = 13; i < kN; i += 101) x[i] = -0.f;
  x[5] = std::numeric_limits<float>::quiet_NaN();
  const auto gy = test::random_floats(kN, 10);
  std::vector<float> y(kN, kSentinelA), gx(kN, kSentinelA);
  cpu::relu_forward_reference(kN, x.data(), y.data());
  cpu::relu_backward_reference(kN, y.data(), gy.data(), gx.data());
  const DeviceVector<float> dx(x), dgy(gy);
  DeviceVector<float> dy(kN, kSentinelB), dgx(kN, kSentinelB);
  cuda::relu_forward(kN, dx.get(), dy.get());
  cuda::relu_backward(kN, dy.get(), dgy.get(), dgx.get());
  test::expect_bitwise_equal(y, dy.download(), "relu forward");
  test::expect_bitwise_equal(gx, dgx.download(), "relu backward");
}

// ---------------------------------------------------------------------------------------------
// Dropout

TEST(CudaKernelParity, DropoutMaskAndOutputBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  const auto x = test::random_floats(kN, 11);
  const DeviceVector<float> dx(x);
  struct Case {
    double p;
    std::uint64_t seed, offset;
  };
  // p = 0.3 has an inexact 1 / (1 - p); the offset above 2^32 checks 64-bit counters.
  for (const Case c : {Case{0.5, 42, 0}, Case{0.3, 7, 123457}, Case{0.0, 1, 9},
                       Case{0.9, 99, (std::uint64_t{1} << 40) + 3}}) {
    std::vector<float> y(kN, kSentinelA), mask(kN, kSentinelA);
    cpu::dropout_forward_reference(kN, c.p, c.seed, c.offset, x.data(), y.data(), mask.data());
    DeviceVector<float> dy(kN, kSentinelB), dmask(kN, kSentinelB);
    cuda::dropout_forward(kN, c.p, c.seed, c.offset, dx.get(), dy.get(), dmask.get());
    SCOPED_TRACE(::testing::Message()
                 << "p " << c.p << ", seed " << c.seed << ", offset " << c.offset);
    test::expect_bitwise_equal(mask, dmask.download(), "dropout mask");
    test::expect_bitwise_equal(y, dy.download(), "dropout output");
  }
}

// ---------------------------------------------------------------------------------------------
// Max pooling

std::string describe(const kernels::Pool2dGeometry& g) {
  std::ostringstream out;
  out << "input " << g.n << "x" << g.c << "x" << g.h << "x" << g.w << ", window " << g.kh << "x"
      << g.kw << ", stride " << g.stride_h << "x" << g.stride_w << ", padding " << g.pad_h << "x"
      << g.pad_w;
  return out.str();
}

// Forward (values and argmax) and backward on both devices, compared bitwise.
void check_pool_parity(const kernels::Pool2dGeometry& g, const std::vector<float>& x,
                       std::uint64_t seed) {
  SCOPED_TRACE(describe(g));
  const std::int64_t out = g.n * g.c * g.p() * g.q();
  const std::int64_t in = g.n * g.c * g.h * g.w;
  const auto gy = test::random_floats(out, seed);
  std::vector<float> y(out, kSentinelA), gx(in, kSentinelA);
  std::vector<std::int32_t> argmax(out, -7);
  cpu::max_pool2d_forward_reference(g, x.data(), y.data(), argmax.data());
  cpu::max_pool2d_backward_reference(g, gy.data(), argmax.data(), gx.data());

  const DeviceVector<float> dx(x), dgy(gy);
  DeviceVector<float> dy(out, kSentinelB), dgx(in, kSentinelB);
  DeviceVector<std::int32_t> dargmax(out, -9);
  cuda::max_pool2d_forward(g, dx.get(), dy.get(), dargmax.get());
  cuda::max_pool2d_backward(g, dgy.get(), dargmax.get(), dgx.get());
  test::expect_bitwise_equal(y, dy.download(), "max_pool2d forward");
  test::expect_equal(argmax, dargmax.download(), "max_pool2d argmax");
  test::expect_bitwise_equal(gx, dgx.download(), "max_pool2d backward");
}

const std::vector<kernels::Pool2dGeometry>& pool_geometries() {
  static const std::vector<kernels::Pool2dGeometry> geometries = {
      {2, 3, 9, 8, 2, 2, 2, 2, 0, 0},      // VGG's 2x2/2, odd size: the last row is dropped
      {2, 4, 7, 7, 3, 3, 2, 2, 1, 1},      // overlapping windows with padding
      {1, 5, 10, 11, 3, 3, 1, 1, 1, 1},    // stride 1: each cell in up to 9 windows
      {3, 2, 6, 6, 2, 3, 1, 2, 1, 0},      // rectangular window, mixed strides
      {1, 2, 5, 5, 5, 5, 1, 1, 0, 0},      // one window covers the plane
      {16, 64, 33, 35, 2, 2, 2, 2, 0, 0},  // 1.2M inputs: the backward's grid-stride loop wraps
  };
  return geometries;
}

TEST(CudaKernelParity, MaxPoolRandomInputsBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 20;
  for (const auto& g : pool_geometries()) {
    check_pool_parity(g, test::random_floats(g.n * g.c * g.h * g.w, seed), seed + 1);
    seed += 2;
  }
}

// Inputs drawn from {-1, 0, 1} and all-negative planes: ties in almost every window, so argmax
// checks the first-maximum rule; with overlapping windows one cell wins several outputs, so the
// backward must add their gradients (in the CPU's order).
TEST(CudaKernelParity, MaxPoolTiesPickTheFirstMaximum) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 40;
  for (const auto& g : pool_geometries()) {
    std::vector<float> x(g.n * g.c * g.h * g.w);
    const auto levels = test::random_ints(static_cast<std::int64_t>(x.size()), seed, -1, 2);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(levels[i]);
    check_pool_parity(g, x, seed + 1);
    for (float& v : x) v = -1.f - std::abs(v);  // all negative: padding must never win
    check_pool_parity(g, x, seed + 1);
    seed += 2;
  }
}

TEST(CudaKernelParity, MaxPoolNaNWinsItsWindow) {
  KILN_REQUIRE_CUDA();
  const kernels::Pool2dGeometry g{2, 3, 8, 8, 3, 3, 2, 2, 1, 1};
  auto x = test::random_floats(g.n * g.c * g.h * g.w, 60);
  for (std::size_t i = 3; i < x.size(); i += 37) x[i] = std::numeric_limits<float>::quiet_NaN();
  check_pool_parity(g, x, 61);
}

TEST(CudaKernelParity, MaxPoolRejectsPaddingAsLargeAsTheWindow) {
  KILN_REQUIRE_CUDA();
  const kernels::Pool2dGeometry g{1, 1, 4, 4, 2, 2, 2, 2, 2, 0};
  EXPECT_THROW(cuda::max_pool2d_forward(g, nullptr, nullptr, nullptr), Error);
}

// ---------------------------------------------------------------------------------------------
// Runs on every CUDA build: without a device every kernel entry point throws
// kiln::Error, after its host-side argument checks, and nothing silently runs on the CPU instead.

template <typename F>
void expect_cuda_error(const char* op, F&& call) {
  try {
    call();
    ADD_FAILURE() << op << " returned without a device";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUDA"), std::string::npos) << op << ": " << what;
  }
}

TEST(CudaKernelParity, WithoutDeviceEveryKernelThrows) {
  KILN_SKIP_WITH_CUDA("nothing to check here");
  float f[4] = {};
  std::int32_t labels[1] = {0}, argmax[4] = {};
  std::int64_t correct = 0;
  const std::uint8_t pixels[3] = {1, 2, 3};
  const kernels::Pool2dGeometry g{1, 1, 2, 2, 2, 2, 2, 2, 0, 0};
  const kernels::AdamScalars adam{0.9, 0.999, 1e-3, 1e-7, 0.0};
  const kernels::AffineTransform identity{0, 0, 0, 1, 1, false};
  const cuda::AdamTensor tensor{1, f, f + 1, f + 2, f + 3};
  expect_cuda_error("add", [&] { cuda::add(1, f, f, f); });
  expect_cuda_error("mul", [&] { cuda::mul(1, f, f, f); });
  expect_cuda_error("scale", [&] { cuda::scale(1, f, 2.f, f); });
  expect_cuda_error("axpy", [&] { cuda::axpy(1, 2.f, f, f); });
  expect_cuda_error("sum", [&] { cuda::sum(1, f); });
  expect_cuda_error("relu_forward", [&] { cuda::relu_forward(1, f, f); });
  expect_cuda_error("relu_backward", [&] { cuda::relu_backward(1, f, f, f); });
  expect_cuda_error("dropout_forward", [&] { cuda::dropout_forward(1, 0.5, 1, 0, f, f, f); });
  expect_cuda_error("max_pool2d_forward", [&] { cuda::max_pool2d_forward(g, f, f, argmax); });
  expect_cuda_error("max_pool2d_backward", [&] { cuda::max_pool2d_backward(g, f, argmax, f); });
  expect_cuda_error("softmax_cross_entropy_forward",
                    [&] { cuda::softmax_cross_entropy_forward(1, 1, f, labels, nullptr, f); });
  expect_cuda_error("softmax_cross_entropy_backward", [&] {
    cuda::softmax_cross_entropy_backward(1, 1, f, labels, nullptr, 1.f, f);
  });
  expect_cuda_error("count_correct", [&] { cuda::count_correct(1, 1, f, labels, &correct); });
  expect_cuda_error("adam_update", [&] { cuda::adam_update(1, adam, f, f, f, f); });
  expect_cuda_error("sgd_update", [&] {
    cuda::sgd_update(1, kernels::SgdScalars{0.1, 0.0, 0.0, false}, f, nullptr, f);
  });
  expect_cuda_error("adam_update_multi", [&] { cuda::adam_update_multi(&tensor, 1, adam); });
  expect_cuda_error("augment_preprocess",
                    [&] { cuda::augment_preprocess(1, 1, 1, pixels, &identity, f); });
  EXPECT_EQ(correct, 0);
  for (float v : f) EXPECT_EQ(v, 0.f);  // nothing ran on the host instead
}

}  // namespace
}  // namespace kiln
