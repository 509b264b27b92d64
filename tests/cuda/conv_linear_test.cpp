// cuDNN convolutions and cuBLAS dense layers against the CPU reference, and the caching allocator.
//
// Parity: fresh random inputs go through cuda::conv2d_* / cuda::linear_* and through the CPU
// reference kernels in double (the inputs are the same floats, widened), so the reference is the
// exact answer to within 1e-15 and the whole error budget belongs to the GPU. Device outputs are
// pre-filled with kSentinelB and the reference's with kSentinelA: an element never written cannot
// match. Every test that needs a device skips, with the reason, without one.
//
// Tolerances. Inputs are uniform in [-1, 1), so a product has rms 1/3 and an output summing T
// products has rms sqrt(T)/3. The allowed error per element is rel * (1 + sqrt(T)):
// - FP32, rel = 1e-4: float accumulation in any order (cuBLAS tiles, cuDNN's implicit GEMM, split
//   reductions) errs by a few ulps of the partial sums, ~1e-7 * sqrt(T) at random; the slack
//   covers the Winograd and FFT algorithms cuDNN may pick, whose transforms lose up to two more
//   digits. That is still ~3e-4 of the outputs' rms, while a wrong index or stride errs by about
//   the rms itself.
// - TF32, rel = 2e-3: TF32 keeps 10 mantissa bits, so each rounded (or truncated) operand errs by
//   up to 2^-10 relative and a product by up to ~2e-3; with random signs the errors add like a
//   random walk, ~3e-4 * sqrt(T) rms, and 2e-3 * sqrt(T) leaves about 6 sigma for the maximum over
//   a million elements.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_fill.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_memory.h"
#include "kernels/linear.h"
#include "tests/cuda/cuda_test.h"
#include "tests/cuda/device_vector.h"
#include "tests/support/test_data.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;
using kernels::Conv2dGeometry;
using test::ConvEngineScope;
using test::DeviceVector;
using test::kSentinelA;
using test::kSentinelB;
using test::MathModeScope;
using test::name_of;
using test::random_floats;
using test::w_size;
using test::widen;
using test::x_size;
using test::y_size;

// Allowed error for an output that sums `terms` products (see the file comment).
double tolerance(cuda::MathMode mode, std::int64_t terms) {
  const double rel = mode == cuda::MathMode::TF32 ? 2e-3 : 1e-4;
  return rel * (1.0 + std::sqrt(static_cast<double>(terms)));
}

// Every element within `tol` of the reference; reports the count and the first few misses.
void expect_close(const std::vector<float>& gpu, const std::vector<double>& ref, double tol,
                  const std::string& what) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  std::int64_t bad = 0;
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(static_cast<double>(gpu[i]) - ref[i]);
    if (!(err <= tol)) {  // also catches NaN
      if (bad < 5) {
        ADD_FAILURE() << what << ": element " << i << " is " << gpu[i] << ", reference " << ref[i]
                      << " (error " << err << ", tolerance " << tol << ")";
      }
      ++bad;
    }
    if (err > worst) worst = err;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size()
                    << " elements outside the tolerance " << tol << "; worst error " << worst;
}

// ---------------------------------------------------------------------------------------------
// conv2d

struct ConvCase {
  const char* name;
  Conv2dGeometry g;
};

std::ostream& operator<<(std::ostream& out, const ConvCase& c) { return out << c.name; }

Conv2dGeometry geometry(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t k) {
  return Conv2dGeometry{n, c, hw, hw, k, 3, 3, 1, 1, 1, 1};  // VGG: 3x3, stride 1, pad 1
}

// VGG16's convolutions at CIFAR-10's 32x32 (every distinct geometry), and odd shapes that catch
// code assuming square windows, unit strides or "same" padding.
const ConvCase kConvCases[] = {
    {"vgg_block1_conv1", geometry(4, 3, 32, 64)},
    {"vgg_block1_conv2", geometry(2, 64, 32, 64)},
    {"vgg_block2_conv1", geometry(2, 64, 16, 128)},
    {"vgg_block2_conv2", geometry(2, 128, 16, 128)},
    {"vgg_block3_conv1", geometry(2, 128, 8, 256)},
    {"vgg_block3_conv2", geometry(2, 256, 8, 256)},
    {"vgg_block4_conv1", geometry(2, 256, 4, 512)},
    {"vgg_block4_conv2", geometry(2, 512, 4, 512)},
    {"vgg_block5_conv1", geometry(2, 512, 2, 512)},
    {"stride2", {3, 5, 11, 11, 7, 3, 3, 2, 2, 1, 1}},
    {"window5x5_pad2", {2, 4, 9, 9, 6, 5, 5, 1, 1, 2, 2}},
    {"window1x1", {3, 16, 7, 7, 8, 1, 1, 1, 1, 0, 0}},
    {"window3x2_stride2x1_pad1x0", {2, 3, 9, 8, 4, 3, 2, 2, 1, 1, 0}},
};

// Every case runs on cuDNN and through Auto (which times cuDNN against Kiln's implicit GEMM and
// must hand back a correct result from whichever won). Kiln's engine alone is checked, with a
// tighter TF32 bound, in conv_kiln_test.cpp.
using ConvParam = std::tuple<ConvCase, bool /*bias*/, cuda::MathMode, cuda::ConvEngine>;

class CudaConv2d : public ::testing::TestWithParam<ConvParam> {};

TEST_P(CudaConv2d, AllThreeDirectionsMatchTheCpuReference) {
  KILN_REQUIRE_CUDA();
  const auto& [c, with_bias, mode, engine] = GetParam();
  const MathModeScope scope(mode);
  const ConvEngineScope engine_scope(engine);
  const Conv2dGeometry& g = c.g;
  const std::uint64_t seed = 1000 + static_cast<std::uint64_t>(x_size(g) + 7 * w_size(g));
  const std::vector<float> x = random_floats(x_size(g), seed);
  const std::vector<float> w = random_floats(w_size(g), seed + 1);
  const std::vector<float> b = random_floats(g.k, seed + 2);
  const std::vector<float> gy = random_floats(y_size(g), seed + 3);
  const std::vector<double> xd = widen(x), wd = widen(w), bd = widen(b), gyd = widen(gy);
  const DeviceVector<float> x_dev(x), w_dev(w), b_dev(b), gy_dev(gy);

  {  // forward
    std::vector<double> ref(y_size(g), kSentinelA);
    kernels::cpu::conv2d_forward_reference<double>(g, xd.data(), wd.data(),
                                                   with_bias ? bd.data() : nullptr, ref.data());
    DeviceVector<float> y(y_size(g), kSentinelB);
    cuda::conv2d_forward(g, x_dev.get(), w_dev.get(), with_bias ? b_dev.get() : nullptr, y.get());
    expect_close(y.download(), ref, tolerance(mode, g.c * g.r * g.s), "forward");
  }
  {  // backward data
    std::vector<double> ref(x_size(g), kSentinelA);
    kernels::cpu::conv2d_backward_data_reference<double>(g, gyd.data(), wd.data(), ref.data());
    DeviceVector<float> gx(x_size(g), kSentinelB);
    cuda::conv2d_backward_data(g, gy_dev.get(), w_dev.get(), gx.get());
    expect_close(gx.download(), ref, tolerance(mode, g.k * g.r * g.s), "backward data");
  }
  {  // backward weight (and bias)
    std::vector<double> ref_w(w_size(g), kSentinelA), ref_b(g.k, kSentinelA);
    kernels::cpu::conv2d_backward_weight_reference<double>(g, xd.data(), gyd.data(), ref_w.data(),
                                                           with_bias ? ref_b.data() : nullptr);
    DeviceVector<float> gw(w_size(g), kSentinelB), gb(g.k, kSentinelB);
    cuda::conv2d_backward_weight(g, x_dev.get(), gy_dev.get(), gw.get(),
                                 with_bias ? gb.get() : nullptr);
    const std::int64_t terms = g.n * g.p() * g.q();
    expect_close(gw.download(), ref_w, tolerance(mode, terms), "backward weight");
    if (with_bias) {
      expect_close(gb.download(), ref_b, tolerance(mode, terms), "backward bias");
    } else {
      EXPECT_EQ(gb.download(), std::vector<float>(g.k, kSentinelB)) << "gb was null: untouched";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, CudaConv2d,
    ::testing::Combine(::testing::ValuesIn(kConvCases), ::testing::Bool(),
                       ::testing::Values(cuda::MathMode::FP32, cuda::MathMode::TF32),
                       ::testing::Values(cuda::ConvEngine::CuDNN, cuda::ConvEngine::Auto)),
    [](const ::testing::TestParamInfo<ConvParam>& info) {
      return std::string(std::get<0>(info.param).name) +
             (std::get<1>(info.param) ? "_bias_" : "_nobias_") + name_of(std::get<2>(info.param)) +
             "_" + cuda::to_string(std::get<3>(info.param));
    });

// Auto times both engines on a shape's first call and records the choice with both times; a shape
// it has not seen yet gets exactly one new entry per direction. (Deterministic mode times nothing:
// conv_determinism_test.cpp; off here whatever KILN_DETERMINISTIC says.)
TEST(CudaConvEngineAuto, RecordsOneTimedChoicePerShapeAndDirection) {
  KILN_REQUIRE_CUDA();
  const test::DeterministicScope deterministic(false);
  const MathModeScope scope(cuda::MathMode::FP32);
  const ConvEngineScope engine_scope(cuda::ConvEngine::Auto);
  const Conv2dGeometry g{3, 19, 13, 11, 23, 3, 3, 1, 1, 1, 1};  // a shape no other test uses
  const DeviceVector<float> x(random_floats(x_size(g), 61)), w(random_floats(w_size(g), 62)),
      gy(random_floats(y_size(g), 63));
  DeviceVector<float> y(y_size(g), kSentinelB), gx(x_size(g), kSentinelB),
      gw(w_size(g), kSentinelB);
  const auto count_for_shape = [&] {
    int count = 0;
    for (const cuda::ConvEngineChoice& c : cuda::conv_engine_choices()) {
      if (c.g.c == g.c && c.g.k == g.k && c.g.h == g.h && c.g.w == g.w && c.g.n == g.n) {
        EXPECT_GT(c.cudnn_ms, 0.f);
        EXPECT_GT(c.kiln_ms, 0.f);
        EXPECT_EQ(c.chosen,
                  c.kiln_ms < c.cudnn_ms ? cuda::ConvEngine::Kiln : cuda::ConvEngine::CuDNN);
        ++count;
      }
    }
    return count;
  };
  EXPECT_EQ(count_for_shape(), 0);
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second round reuses the choices
    cuda::conv2d_forward(g, x.get(), w.get(), nullptr, y.get());
    cuda::conv2d_backward_data(g, gy.get(), w.get(), gx.get());
    cuda::conv2d_backward_weight(g, x.get(), gy.get(), gw.get(), nullptr);
    EXPECT_EQ(count_for_shape(), 3);
  }
}

// The second call finds the cached plan (descriptors and algorithm) and must overwrite its output
// exactly as the first did: cuDNN's forward algorithms are deterministic, so the bits repeat.
TEST(CudaConv2dPlanCache, RepeatedForwardOverwritesWithTheSameBits) {
  KILN_REQUIRE_CUDA();
  const MathModeScope scope(cuda::MathMode::FP32);
  const Conv2dGeometry g = geometry(2, 32, 12, 16);
  const DeviceVector<float> x(random_floats(x_size(g), 51)), w(random_floats(w_size(g), 52)),
      b(random_floats(g.k, 53));
  DeviceVector<float> first(y_size(g), kSentinelA), second(y_size(g), kSentinelB);
  cuda::conv2d_forward(g, x.get(), w.get(), b.get(), first.get());
  cuda::conv2d_forward(g, x.get(), w.get(), b.get(), second.get());
  EXPECT_EQ(first.download(), second.download());
}

// An empty batch: the weight and bias gradients are empty sums, so zero, whatever was there.
TEST(CudaConv2dEdges, EmptyBatchGivesZeroWeightGradients) {
  KILN_REQUIRE_CUDA();
  const Conv2dGeometry g{0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1};
  DeviceVector<float> gw(w_size(g), kSentinelB), gb(g.k, kSentinelB);
  cuda::conv2d_backward_weight(g, nullptr, nullptr, gw.get(), gb.get());
  EXPECT_EQ(gw.download(), std::vector<float>(w_size(g), 0.f));
  EXPECT_EQ(gb.download(), std::vector<float>(g.k, 0.f));
}

// ---------------------------------------------------------------------------------------------
// linear

struct LinearCase {
  const char* name;
  std::int64_t m, k, n;  // x (M,K), w (K,N), y (M,N)
};

std::ostream& operator<<(std::ostream& out, const LinearCase& c) { return out << c.name; }

const LinearCase kLinearCases[] = {
    {"tiny", 1, 1, 1},
    {"odd", 5, 7, 3},
    {"vgg_head_fc", 64, 512, 256},
    {"vgg_head_logits", 64, 256, 10},
    {"wide_not_tile_multiple", 17, 300, 1000},
    {"tall_batch", 4099, 33, 45},  // many rows: the bias gradient's per-lane loop runs long
};

using LinearParam = std::tuple<LinearCase, bool /*bias*/, cuda::MathMode>;

class CudaLinear : public ::testing::TestWithParam<LinearParam> {};

TEST_P(CudaLinear, AllThreeDirectionsMatchTheCpuReference) {
  KILN_REQUIRE_CUDA();
  const auto& [c, with_bias, mode] = GetParam();
  const MathModeScope scope(mode);
  const std::int64_t m = c.m, k = c.k, n = c.n;
  const std::uint64_t seed = 5000 + static_cast<std::uint64_t>(m * 131 + k * 17 + n);
  const std::vector<float> x = random_floats(m * k, seed);
  const std::vector<float> w = random_floats(k * n, seed + 1);
  const std::vector<float> b = random_floats(n, seed + 2);
  const std::vector<float> gy = random_floats(m * n, seed + 3);
  const std::vector<double> xd = widen(x), wd = widen(w), bd = widen(b), gyd = widen(gy);
  const DeviceVector<float> x_dev(x), w_dev(w), b_dev(b), gy_dev(gy);

  {  // forward
    std::vector<double> ref(m * n, kSentinelA);
    kernels::cpu::linear_forward_reference<double>(m, k, n, xd.data(), wd.data(),
                                                   with_bias ? bd.data() : nullptr, ref.data());
    DeviceVector<float> y(m * n, kSentinelB);
    cuda::linear_forward(m, k, n, x_dev.get(), w_dev.get(), with_bias ? b_dev.get() : nullptr,
                         y.get());
    expect_close(y.download(), ref, tolerance(mode, k), "forward");
  }
  {  // backward data
    std::vector<double> ref(m * k, kSentinelA);
    kernels::cpu::linear_backward_data_reference<double>(m, k, n, gyd.data(), wd.data(),
                                                         ref.data());
    DeviceVector<float> gx(m * k, kSentinelB);
    cuda::linear_backward_data(m, k, n, gy_dev.get(), w_dev.get(), gx.get());
    expect_close(gx.download(), ref, tolerance(mode, n), "backward data");
  }
  {  // backward weight (and bias)
    std::vector<double> ref_w(k * n, kSentinelA), ref_b(n, kSentinelA);
    kernels::cpu::linear_backward_weight_reference<double>(
        m, k, n, xd.data(), gyd.data(), ref_w.data(), with_bias ? ref_b.data() : nullptr);
    DeviceVector<float> gw(k * n, kSentinelB), gb(n, kSentinelB);
    cuda::linear_backward_weight(m, k, n, x_dev.get(), gy_dev.get(), gw.get(),
                                 with_bias ? gb.get() : nullptr);
    expect_close(gw.download(), ref_w, tolerance(mode, m), "backward weight");
    if (with_bias) {
      // Kiln's own reduction, exact FP32 in either mode: summing M values of rms 0.58.
      expect_close(gb.download(), ref_b, tolerance(cuda::MathMode::FP32, m), "backward bias");
    } else {
      EXPECT_EQ(gb.download(), std::vector<float>(n, kSentinelB)) << "gb was null: untouched";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaLinear,
                         ::testing::Combine(::testing::ValuesIn(kLinearCases), ::testing::Bool(),
                                            ::testing::Values(cuda::MathMode::FP32,
                                                              cuda::MathMode::TF32)),
                         [](const ::testing::TestParamInfo<LinearParam>& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) ? "_bias_" : "_nobias_") +
                                  name_of(std::get<2>(info.param));
                         });

// Empty sums: K = 0 makes y the bias alone; M = 0 makes the weight and bias gradients zero;
// N = 0 makes the data gradient zero. All exact.
TEST(CudaLinearEdges, EmptySumsGiveBiasOrZero) {
  KILN_REQUIRE_CUDA();
  const std::vector<float> b = {1.5f, -2.f, 0.25f, 4.f};
  const DeviceVector<float> b_dev(b);
  {
    DeviceVector<float> y(3 * 4, kSentinelB);
    cuda::linear_forward(3, 0, 4, nullptr, nullptr, b_dev.get(), y.get());
    std::vector<float> expected;
    for (int row = 0; row < 3; ++row) expected.insert(expected.end(), b.begin(), b.end());
    EXPECT_EQ(y.download(), expected);
  }
  {
    DeviceVector<float> gw(5 * 4, kSentinelB), gb(4, kSentinelB);
    cuda::linear_backward_weight(0, 5, 4, nullptr, nullptr, gw.get(), gb.get());
    EXPECT_EQ(gw.download(), std::vector<float>(5 * 4, 0.f));
    EXPECT_EQ(gb.download(), std::vector<float>(4, 0.f));
  }
  {
    DeviceVector<float> gx(3 * 5, kSentinelB);
    cuda::linear_backward_data(3, 5, 0, nullptr, nullptr, gx.get());
    EXPECT_EQ(gx.download(), std::vector<float>(3 * 5, 0.f));
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime settings

// Runs on every CUDA build: the math mode is a setting, kept and read back even without a device.
TEST(CudaRuntime, MathModeIsKept) {
  const MathModeScope scope(cuda::MathMode::TF32);
  EXPECT_EQ(cuda::math_mode(), cuda::MathMode::TF32);
  cuda::set_math_mode(cuda::MathMode::FP32);
  EXPECT_EQ(cuda::math_mode(), cuda::MathMode::FP32);
}

// A kernel queued on Kiln's stream writes pinned host memory directly (unified addressing);
// nothing but synchronize() waits for it before the host reads, so a synchronize() that returned
// early would leave values unwritten.
TEST(CudaRuntime, SynchronizeWaitsForTheQueuedKernels) {
  KILN_REQUIRE_CUDA();
  const std::int64_t n = std::int64_t{1} << 24;  // 64 MB: long enough to be caught unfinished
  float* host = static_cast<float*>(cuda::allocate_pinned(sizeof(float) * n));
  std::fill(host, host + n, 0.0f);
  cuda::fill_float(host, n, 7.0f);
  cuda::synchronize();
  EXPECT_EQ(std::count(host, host + n, 7.0f), n);
  cuda::free_pinned(host);
}

// Runs on every CUDA build: without a device the runtime and the conv/linear entry points throw,
// naming CUDA, rather than doing anything on the CPU.
TEST(CudaRuntime, WithoutDeviceOpsThrow) {
  KILN_SKIP_WITH_CUDA("nothing to check here");
  EXPECT_THROW(cuda::synchronize(), Error);
  const Conv2dGeometry g{1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1};
  float dummy[9] = {};
  EXPECT_THROW(cuda::conv2d_forward(g, dummy, dummy, nullptr, dummy), Error);
  EXPECT_THROW(cuda::linear_forward(1, 1, 1, dummy, dummy, nullptr, dummy), Error);
  try {
    cuda::linear_backward_weight(1, 1, 1, dummy, dummy, dummy, nullptr);
    FAIL() << "linear_backward_weight ran without a device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Caching allocator

bool cache_bypassed() {
  const char* env = std::getenv("KILN_CUDA_NO_CACHE");
  return env != nullptr && std::strcmp(env, "1") == 0;
}

#define KILN_REQUIRE_CACHE()                                                             \
  do {                                                                                   \
    if (cache_bypassed()) GTEST_SKIP() << "KILN_CUDA_NO_CACHE=1: the cache is bypassed"; \
  } while (0)

TEST(CudaCachingAllocator, SameSizeClassReusesTheFreedBlock) {
  KILN_REQUIRE_CUDA();
  KILN_REQUIRE_CACHE();
  cuda::empty_cache();  // so the only cached block of the class is the one freed below
  void* small = cuda::allocate(1000);
  cuda::free(small);
  void* again = cuda::allocate(1001);  // 512-byte classes: both are 1024
  EXPECT_EQ(again, small);
  cuda::free(again);

  const std::size_t mib = std::size_t{1} << 20;
  void* large = cuda::allocate(3 * mib + 1);  // 2 MiB classes: 4 MiB
  cuda::free(large);
  void* large_again = cuda::allocate(4 * mib);
  EXPECT_EQ(large_again, large);
  cuda::free(large_again);
}

TEST(CudaCachingAllocator, BooksTrackBlocksInUseAndCached) {
  KILN_REQUIRE_CUDA();
  KILN_REQUIRE_CACHE();
  cuda::empty_cache();
  EXPECT_EQ(cuda::cached_bytes(), 0u);
  const std::size_t in_use = cuda::allocated_bytes();
  const std::size_t mib = std::size_t{1} << 20;
  void* a = cuda::allocate(5 * mib);  // class 6 MiB
  void* b = cuda::allocate(700);      // class 1024 B
  EXPECT_EQ(cuda::allocated_bytes(), in_use + 6 * mib + 1024);
  cuda::free(a);
  cuda::free(b);
  EXPECT_EQ(cuda::allocated_bytes(), in_use);
  EXPECT_EQ(cuda::cached_bytes(), 6 * mib + 1024);
  cuda::empty_cache();
  EXPECT_EQ(cuda::cached_bytes(), 0u);
  EXPECT_EQ(cuda::allocated_bytes(), in_use);
}

TEST(CudaCachingAllocator, OutOfMemorySaysWhatWasAskedAndWhatTheDeviceHas) {
  KILN_REQUIRE_CUDA();
  const std::size_t pib = std::size_t{1} << 50;  // no device has a petabyte
  try {
    void* ptr = cuda::allocate(pib);
    cuda::free(ptr);
    FAIL() << "a 1 PiB allocation succeeded";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("CUDA out of memory"), std::string::npos) << message;
    EXPECT_NE(message.find("asked for " + std::to_string(pib)), std::string::npos) << message;
    EXPECT_NE(message.find("cached"), std::string::npos) << message;
    EXPECT_NE(message.find("free of"), std::string::npos) << message;
  }
  // The failure leaves the allocator and the CUDA error state usable.
  DeviceVector<float> after(std::vector<float>{1.f, 2.f, 3.f});
  EXPECT_EQ(after.download(), (std::vector<float>{1.f, 2.f, 3.f}));
}

TEST(CudaPinnedMemory, RoundTripThroughPinnedBuffers) {
  KILN_REQUIRE_CUDA();
  const std::vector<float> values = random_floats(4099, 77);
  const std::size_t bytes = sizeof(float) * values.size();
  float* up = static_cast<float*>(cuda::allocate_pinned(bytes));
  float* down = static_cast<float*>(cuda::allocate_pinned(bytes));
  ASSERT_NE(up, nullptr);
  ASSERT_NE(down, nullptr);
  std::memcpy(up, values.data(), bytes);
  std::fill(down, down + values.size(), kSentinelA);
  {
    DeviceVector<float> dev(static_cast<std::int64_t>(values.size()), kSentinelB);
    cuda::copy_host_to_device(dev.get(), up, bytes);
    cuda::copy_device_to_host(down, dev.get(), bytes);
  }
  EXPECT_EQ(std::vector<float>(down, down + values.size()), values);
  cuda::free_pinned(up);
  cuda::free_pinned(down);
  cuda::free_pinned(nullptr);
}

// Runs on every CUDA build: without a device the books are empty and pinned memory fails loudly.
TEST(CudaCachingAllocator, WithoutDeviceBooksAreEmptyAndPinnedThrows) {
  KILN_SKIP_WITH_CUDA("nothing to check here");
  EXPECT_EQ(cuda::cached_bytes(), 0u);
  EXPECT_EQ(cuda::allocated_bytes(), 0u);
  EXPECT_NO_THROW(cuda::empty_cache());
  EXPECT_THROW(cuda::allocate_pinned(4096), Error);
  cuda::free_pinned(nullptr);
}

}  // namespace
}  // namespace kiln
