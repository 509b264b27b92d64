// The NCHW bias kernels on CUDA (kernels/cuda/bias.cu) against their CPU reference. CPU outputs
// are pre-filled with kSentinelA, device outputs with kSentinelB.
//
// Tolerances: the add is one float add per element on both devices: bitwise. The gradient sums in
// float on the GPU (a fixed per-thread stride, then a fixed tree) and in double on the CPU; float
// rounding error scales with the magnitudes summed, not with the (cancelling) result, so the bound
// is absolute: 2e-7 * M for M = N*HW terms uniform in [-1, 1), about 3.4 float epsilons of
// sum |gy| (~ M / 2). The expected error of such a blocked sum is about a hundredth of that, while
// a missed or double-counted element errs by up to 1.
//
// Shapes cover both add paths (float4 when HW % 4 == 0 and y is 16-byte aligned, scalar
// otherwise), a tensor beyond one grid (4096 x 256 threads) so the grid-stride loop wraps, both
// gradient block sizes (256 and 1024 threads, switching at N*HW = 2^15), HW smaller and larger
// than a block, and VGG16's 13 convolution outputs at 32 px, batch 64.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/bias.h"
#include "kernels/device_memory.h"
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

struct Shape {
  std::int64_t n, k, hw;
};

std::vector<Shape> shapes() {
  std::vector<Shape> out = {{1, 1, 1},    {2, 3, 17},     {3, 5, 49},   {4, 7, 1024},
                            {64, 512, 1}, {5, 64, 16384}, {2, 3, 50177}};
  // VGG16's convolution outputs at 32 px, batch 64: (K, side) per layer.
  const std::int64_t vgg[][2] = {{64, 32}, {64, 32}, {128, 16}, {128, 16}, {256, 8},
                                 {256, 8}, {256, 8}, {512, 4},  {512, 4},  {512, 4},
                                 {512, 2}, {512, 2}, {512, 2}};
  for (const auto& layer : vgg) out.push_back({64, layer[0], layer[1] * layer[1]});
  return out;
}

TEST(CudaBiasParity, AddIsBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 900;
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw);
    const auto b = test::random_floats(s.k, ++seed);
    const auto y0 = test::random_floats(s.n * s.k * s.hw, ++seed);
    std::vector<float> y = y0;
    cpu::bias_add_nchw_reference<float>(s.n, s.k, s.hw, b.data(), y.data());
    const DeviceVector<float> db(b);
    DeviceVector<float> dy(y0);
    cuda::bias_add_nchw(s.n, s.k, s.hw, db.get(), dy.get());
    test::expect_bitwise_equal(y, dy.download(), "bias_add_nchw");
  }
}

// y one float past a 16-byte boundary: the scalar path even though HW % 4 == 0.
TEST(CudaBiasParity, AddOnMisalignedOutput) {
  KILN_REQUIRE_CUDA();
  const std::int64_t n = 3, k = 6, hw = 64, count = n * k * hw;
  const auto b = test::random_floats(k, 1);
  const auto y0 = test::random_floats(count + 1, 2);
  std::vector<float> y = y0;
  cpu::bias_add_nchw_reference<float>(n, k, hw, b.data(), y.data() + 1);
  const DeviceVector<float> db(b);
  DeviceVector<float> dy(y0);
  cuda::bias_add_nchw(n, k, hw, db.get(), dy.get() + 1);
  test::expect_bitwise_equal(y, dy.download(), "bias_add_nchw (misaligned)");
}

TEST(CudaBiasParity, GradMatchesReferenceAndRepeats) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 1000;
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " hw=" << s.hw);
    const auto gy = test::random_floats(s.n * s.k * s.hw, ++seed);
    std::vector<float> gb(s.k, kSentinelA);
    cpu::bias_grad_nchw_reference<float>(s.n, s.k, s.hw, gy.data(), gb.data());
    const DeviceVector<float> dgy(gy);
    DeviceVector<float> dgb(s.k, kSentinelB), dgb_again(s.k, kSentinelB);
    cuda::bias_grad_nchw(s.n, s.k, s.hw, dgy.get(), dgb.get());
    cuda::bias_grad_nchw(s.n, s.k, s.hw, dgy.get(), dgb_again.get());
    const std::vector<float> first = dgb.download();
    test::expect_close(gb, first, 0, 2e-7 * static_cast<double>(s.n * s.hw), "bias_grad_nchw");
    test::expect_bitwise_equal(first, dgb_again.download(), "bias_grad_nchw, run twice");
  }
}

TEST(CudaBiasParity, EmptySumsWriteZero) {
  KILN_REQUIRE_CUDA();
  const DeviceVector<float> dgy(std::vector<float>(1, 1.f));  // never read
  for (const Shape& s : {Shape{0, 3, 5}, Shape{4, 3, 0}}) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " hw=" << s.hw);
    DeviceVector<float> dgb(3, kSentinelB);
    cuda::bias_grad_nchw(s.n, s.k, s.hw, dgy.get(), dgb.get());
    EXPECT_EQ(dgb.download(), std::vector<float>(3, 0.f));
  }
  // K == 0: nothing to write, nothing launched.
  cuda::bias_grad_nchw(4, 0, 5, dgy.get(), nullptr);
  cuda::bias_add_nchw(4, 0, 5, dgy.get(), nullptr);
}

}  // namespace
}  // namespace kiln
