// The batch-norm kernels on CUDA (kernels/cuda/batch_norm.cu) against their CPU reference, on
// fresh random inputs. CPU outputs are pre-filled with kSentinelA, device outputs with kSentinelB.
// tests/kernels/batch_norm_emulated_test.cpp runs the same kernels, launched the same way, on the
// CPU at small sizes, in every build.
//
// Tolerances: tests/cuda/batch_norm_parity.h, shared with the emulated test.
//
// Shapes: small odd ones (a single value, channels shorter and longer than a block, HW = 1, HW
// not a multiple of 4 so the scalar elementwise kernels run), tensors beyond one grid (4096 x 256
// threads) so the grid-stride loops wrap, both block sizes of the sums (switching at
// N*HW = 2^15), and VGG16's batch-norm inputs at 32 px, batch 64 (C = 64 at 32 x 32 down to
// C = 512 at 2 x 2).
#include "tests/cuda/batch_norm_parity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "kernels/batch_norm.h"
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

using test::batch_norm::ChannelParams;
using test::batch_norm::expect_sums_close;
using test::batch_norm::kEps;
using test::batch_norm::kMomentum;
using test::batch_norm::random_params;

struct Shape {
  std::int64_t n, c, hw;
  std::int64_t count() const { return n * c * hw; }
  std::int64_t m() const { return n * hw; }
};

std::vector<Shape> shapes() {
  std::vector<Shape> out = {{1, 1, 1},     {2, 3, 17},    {3, 5, 49},
                            {4, 7, 1024},  {64, 512, 1},  {5, 64, 16384},
                            {2, 3, 50177}, {4, 7, 50177}, {128, 64, 1024}};
  // VGG16's convolution outputs at 32 px, batch 64: (C, side) per layer.
  const std::int64_t vgg[][2] = {{64, 32}, {128, 16}, {256, 8}, {512, 4}, {512, 2}};
  for (const auto& layer : vgg) out.push_back({64, layer[0], layer[1] * layer[1]});
  return out;
}

testing::Message describe(const Shape& s) {
  return testing::Message() << "n=" << s.n << " c=" << s.c << " hw=" << s.hw;
}

TEST(CudaBatchNormParity, StatsMatchTheReferenceAndRepeat) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 100;
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(describe(s));
    const auto x = test::random_floats(s.count(), seed += 3, -1.f, 3.f);
    const auto rmean0 = test::random_floats(s.c, seed + 1),
               rvar0 = test::random_floats(s.c, seed + 2, 0.f, 2.f);
    std::vector<float> mean(s.c, kSentinelA), var(s.c, kSentinelA), rmean = rmean0, rvar = rvar0;
    cpu::batch_norm_stats_reference<float>(s.n, s.c, s.hw, x.data(), mean.data(), var.data(),
                                           kMomentum, rmean.data(), rvar.data());
    const DeviceVector<float> dx(x);
    DeviceVector<float> dmean(s.c, kSentinelB), dvar(s.c, kSentinelB);
    DeviceVector<float> drmean(rmean0), drvar(rvar0);
    cuda::batch_norm_stats(s.n, s.c, s.hw, dx.get(), dmean.get(), dvar.get(), kMomentum,
                           drmean.get(), drvar.get());
    const std::vector<float> got_mean = dmean.download(), got_var = dvar.download();
    expect_sums_close(mean, got_mean, s.m(), "batch_norm_stats mean");
    expect_sums_close(var, got_var, s.m(), "batch_norm_stats var");
    expect_sums_close(rmean, drmean.download(), s.m(), "batch_norm_stats running mean");
    expect_sums_close(rvar, drvar.download(), s.m(), "batch_norm_stats running var");

    // Again, without running statistics: the same bits.
    DeviceVector<float> dmean2(s.c, kSentinelA), dvar2(s.c, kSentinelA);
    cuda::batch_norm_stats(s.n, s.c, s.hw, dx.get(), dmean2.get(), dvar2.get(), kMomentum, nullptr,
                           nullptr);
    test::expect_bitwise_equal(got_mean, dmean2.download(), "batch_norm_stats mean, run twice");
    test::expect_bitwise_equal(got_var, dvar2.download(), "batch_norm_stats var, run twice");
  }
}

TEST(CudaBatchNormParity, ForwardIsBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 200;
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(describe(s));
    const auto x = test::random_floats(s.count(), seed += 5, -3.f, 3.f);
    const ChannelParams p = random_params(s.c, seed + 1);
    std::vector<float> y(s.count(), kSentinelA);
    cpu::batch_norm_forward_reference<float>(s.n, s.c, s.hw, kEps, x.data(), p.mean.data(),
                                             p.var.data(), p.gamma.data(), p.beta.data(), y.data());
    const DeviceVector<float> dx(x), dmean(p.mean), dvar(p.var), dgamma(p.gamma), dbeta(p.beta);
    DeviceVector<float> dy(s.count(), kSentinelB);
    cuda::batch_norm_forward(s.n, s.c, s.hw, kEps, dx.get(), dmean.get(), dvar.get(), dgamma.get(),
                             dbeta.get(), dy.get());
    test::expect_bitwise_equal(y, dy.download(), "batch_norm_forward");
  }
}

// x and y one float past a 16-byte boundary: the scalar kernel even though HW % 4 == 0.
TEST(CudaBatchNormParity, ForwardOnMisalignedTensors) {
  KILN_REQUIRE_CUDA();
  const Shape s{3, 6, 64};
  const auto x = test::random_floats(s.count() + 1, 300, -3.f, 3.f);
  const ChannelParams p = random_params(s.c, 301);
  std::vector<float> y(s.count() + 1, kSentinelA);
  cpu::batch_norm_forward_reference<float>(s.n, s.c, s.hw, kEps, x.data() + 1, p.mean.data(),
                                           p.var.data(), p.gamma.data(), p.beta.data(),
                                           y.data() + 1);
  const DeviceVector<float> dx(x), dmean(p.mean), dvar(p.var), dgamma(p.gamma), dbeta(p.beta);
  DeviceVector<float> dy(s.count() + 1, kSentinelA);  // element 0 never written
  cuda::batch_norm_forward(s.n, s.c, s.hw, kEps, dx.get() + 1, dmean.get(), dvar.get(),
                           dgamma.get(), dbeta.get(), dy.get() + 1);
  test::expect_bitwise_equal(y, dy.download(), "batch_norm_forward (misaligned)");
}

// Fails unless every gx is within the bound described at the top.
void check_backward(const Shape& s, bool batch_stats, bool with_gx, std::uint64_t seed) {
  SCOPED_TRACE(describe(s) << (batch_stats ? ", batch statistics" : ", running statistics")
                           << (with_gx ? "" : ", no gx"));
  const auto x = test::random_floats(s.count(), seed, -2.f, 2.f);
  const auto gy = test::random_floats(s.count(), seed + 1);
  ChannelParams p = random_params(s.c, seed + 2);
  if (batch_stats) {
    cpu::batch_norm_stats_reference<float>(s.n, s.c, s.hw, x.data(), p.mean.data(), p.var.data(),
                                           kMomentum, nullptr, nullptr);
  }
  std::vector<float> gx(s.count(), kSentinelA), ggamma(s.c, kSentinelA), gbeta(s.c, kSentinelA);
  cpu::batch_norm_backward_reference<float>(
      s.n, s.c, s.hw, kEps, batch_stats, x.data(), gy.data(), p.mean.data(), p.var.data(),
      p.gamma.data(), with_gx ? gx.data() : nullptr, ggamma.data(), gbeta.data());
  const DeviceVector<float> dx(x), dgy(gy), dmean(p.mean), dvar(p.var), dgamma(p.gamma);
  DeviceVector<float> dgx(with_gx ? s.count() : 1, kSentinelB);
  DeviceVector<float> dggamma(s.c, kSentinelB), dgbeta(s.c, kSentinelB);
  cuda::batch_norm_backward(s.n, s.c, s.hw, kEps, batch_stats, dx.get(), dgy.get(), dmean.get(),
                            dvar.get(), dgamma.get(), with_gx ? dgx.get() : nullptr, dggamma.get(),
                            dgbeta.get());
  const std::vector<float> got_ggamma = dggamma.download(), got_gbeta = dgbeta.download();
  expect_sums_close(ggamma, got_ggamma, s.m(), "batch_norm_backward ggamma");
  expect_sums_close(gbeta, got_gbeta, s.m(), "batch_norm_backward gbeta");
  if (!with_gx) {
    EXPECT_EQ(dgx.download(), std::vector<float>(1, kSentinelB)) << "gx == nullptr: untouched";
    return;
  }
  const std::vector<float> got_gx = dgx.download();
  ASSERT_EQ(got_gx.size(), gx.size());
  test::batch_norm::expect_input_grad_close(s.c, s.hw, s.m(), batch_stats, x, p, ggamma, gbeta,
                                            got_ggamma, got_gbeta, gx, got_gx.data(), "gpu");

  // Again: the same bits.
  DeviceVector<float> dgx2(s.count(), kSentinelA), dggamma2(s.c, kSentinelA),
      dgbeta2(s.c, kSentinelA);
  cuda::batch_norm_backward(s.n, s.c, s.hw, kEps, batch_stats, dx.get(), dgy.get(), dmean.get(),
                            dvar.get(), dgamma.get(), dgx2.get(), dggamma2.get(), dgbeta2.get());
  test::expect_bitwise_equal(got_ggamma, dggamma2.download(), "ggamma, run twice");
  test::expect_bitwise_equal(got_gbeta, dgbeta2.download(), "gbeta, run twice");
  test::expect_bitwise_equal(got_gx, dgx2.download(), "gx, run twice");
}

TEST(CudaBatchNormParity, BackwardWithBatchStatistics) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 400;
  for (const Shape& s : shapes()) check_backward(s, /*batch_stats=*/true, true, seed += 3);
}

TEST(CudaBatchNormParity, BackwardWithRunningStatistics) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 500;
  for (const Shape& s : shapes()) check_backward(s, /*batch_stats=*/false, true, seed += 3);
}

TEST(CudaBatchNormParity, BackwardWithoutInputGradient) {
  KILN_REQUIRE_CUDA();
  check_backward({2, 3, 17}, true, /*with_gx=*/false, 600);
  check_backward({64, 64, 1024}, false, /*with_gx=*/false, 603);
}

TEST(CudaBatchNormParity, EmptyShapes) {
  KILN_REQUIRE_CUDA();
  const DeviceVector<float> one(std::vector<float>(1, 1.f));  // never read
  // N*HW == 0: the sums are empty, so ggamma = gbeta = 0, as on the CPU; gx has no elements.
  for (const Shape& s : {Shape{0, 3, 5}, Shape{4, 3, 0}}) {
    SCOPED_TRACE(describe(s));
    DeviceVector<float> dggamma(3, kSentinelB), dgbeta(3, kSentinelB);
    cuda::batch_norm_backward(s.n, s.c, s.hw, kEps, true, one.get(), one.get(), one.get(),
                              one.get(), one.get(), nullptr, dggamma.get(), dgbeta.get());
    EXPECT_EQ(dggamma.download(), std::vector<float>(3, 0.f));
    EXPECT_EQ(dgbeta.download(), std::vector<float>(3, 0.f));
    cuda::batch_norm_forward(s.n, s.c, s.hw, kEps, one.get(), one.get(), one.get(), one.get(),
                             one.get(), nullptr);
    // A mean of no values is undefined: refused.
    EXPECT_THROW(cuda::batch_norm_stats(s.n, s.c, s.hw, one.get(), nullptr, nullptr, kMomentum,
                                        nullptr, nullptr),
                 Error);
  }
  // C == 0: nothing to write, nothing launched.
  cuda::batch_norm_stats(4, 0, 5, one.get(), nullptr, nullptr, kMomentum, nullptr, nullptr);
  cuda::batch_norm_backward(4, 0, 5, kEps, true, one.get(), one.get(), one.get(), one.get(),
                            one.get(), nullptr, nullptr, nullptr);
  EXPECT_THROW(cuda::batch_norm_forward(-1, 3, 5, kEps, one.get(), one.get(), one.get(), one.get(),
                                        one.get(), nullptr),
               Error);
}

}  // namespace
}  // namespace kiln
