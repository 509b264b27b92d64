// The conv-engine setting (kernels/conv2d.h): names, parsing and the process-wide value. Runs in
// every build; the engines themselves are tested against the CPU in
// tests/cuda/conv_linear_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "base/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;

TEST(ConvEngine, NamesParseBackToTheSameEngine) {
  for (cuda::ConvEngine e :
       {cuda::ConvEngine::Auto, cuda::ConvEngine::CuDNN, cuda::ConvEngine::Kiln}) {
    EXPECT_EQ(cuda::parse_conv_engine(cuda::to_string(e)), e) << cuda::to_string(e);
  }
  EXPECT_STREQ(cuda::to_string(cuda::ConvEngine::CuDNN), "cudnn");
}

TEST(ConvEngine, AnUnknownNameIsAnErrorThatNamesItAndTheChoices) {
  const std::string message = test::error_of([] { cuda::parse_conv_engine("cuDNN "); });
  EXPECT_NE(message.find("'cuDNN '"), std::string::npos) << message;
  EXPECT_NE(message.find("auto, cudnn or kiln"), std::string::npos) << message;
  EXPECT_THROW(cuda::parse_conv_engine(""), Error);
}

TEST(ConvEngine, TheSettingIsKeptAndReadBack) {
  const cuda::ConvEngine before = cuda::conv_engine();
  cuda::set_conv_engine(cuda::ConvEngine::Kiln);
  EXPECT_EQ(cuda::conv_engine(), cuda::ConvEngine::Kiln);
  cuda::set_conv_engine(cuda::ConvEngine::CuDNN);
  EXPECT_EQ(cuda::conv_engine(), cuda::ConvEngine::CuDNN);
  cuda::set_conv_engine(before);
}

TEST(ConvEngine, ScopesRestoreThePreviousSettingsOnExit) {
  const cuda::ConvEngineScope outer(cuda::ConvEngine::CuDNN);
  const cuda::MathModeScope outer_mode(cuda::MathMode::FP32);
  {
    const cuda::ConvEngineScope inner(cuda::ConvEngine::Kiln);
    const cuda::MathModeScope inner_mode(cuda::MathMode::TF32);
    EXPECT_EQ(cuda::conv_engine(), cuda::ConvEngine::Kiln);
    EXPECT_EQ(cuda::math_mode(), cuda::MathMode::TF32);
  }
  EXPECT_EQ(cuda::conv_engine(), cuda::ConvEngine::CuDNN);
  EXPECT_EQ(cuda::math_mode(), cuda::MathMode::FP32);
}

// The fixed rule Auto follows in deterministic mode (kernels/conv2d.h): Kiln's engine wherever it
// can run the shape, else cuDNN; a pure function of geometry, math mode and compute capability.
using kernels::Conv2dGeometry;

Conv2dGeometry vgg_layer(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t k) {
  return Conv2dGeometry{n, c, hw, hw, k, 3, 3, 1, 1, 1, 1};
}

TEST(DeterministicAutoEngine, KilnWhereverItCanRunTheShape) {
  // VGG16's first and last layer shapes at batch 64, on Volta, Ampere and Hopper, in both modes.
  for (const Conv2dGeometry& g : {vgg_layer(64, 3, 32, 64), vgg_layer(64, 512, 2, 512)}) {
    for (int major : {8, 9}) {
      for (cuda::MathMode mode : {cuda::MathMode::FP32, cuda::MathMode::TF32}) {
        EXPECT_EQ(cuda::deterministic_auto_engine(g, mode, major), cuda::ConvEngine::Kiln)
            << "sm_" << major << "x, c " << g.c;
      }
    }
    EXPECT_EQ(cuda::deterministic_auto_engine(g, cuda::MathMode::FP32, 7), cuda::ConvEngine::Kiln);
  }
}

TEST(DeterministicAutoEngine, TF32BeforeAmpereGoesToCudnn) {
  // Kiln's TF32 kernels are wmma tf32, sm_80 and newer.
  const Conv2dGeometry g = vgg_layer(8, 64, 16, 64);
  EXPECT_FALSE(cuda::kiln_engine_supports(g, cuda::MathMode::TF32, 7));
  EXPECT_EQ(cuda::deterministic_auto_engine(g, cuda::MathMode::TF32, 7), cuda::ConvEngine::CuDNN);
  EXPECT_EQ(cuda::deterministic_auto_engine(g, cuda::MathMode::TF32, 6), cuda::ConvEngine::CuDNN);
  EXPECT_EQ(cuda::deterministic_auto_engine(g, cuda::MathMode::FP32, 7), cuda::ConvEngine::Kiln);
}

TEST(DeterministicAutoEngine, ShapesPastKilnsIntIndexingGoToCudnn) {
  // N*P*Q (a GEMM side) past INT_MAX: 2^16 images of 2^8 x 2^8 pixels is 2^32 output pixels.
  const Conv2dGeometry wide = vgg_layer(std::int64_t{1} << 16, 1, 256, 1);
  std::int64_t too_large = 0;
  EXPECT_FALSE(cuda::kiln_engine_fits(wide, &too_large));
  EXPECT_EQ(too_large, std::int64_t{1} << 32);
  EXPECT_EQ(cuda::deterministic_auto_engine(wide, cuda::MathMode::FP32, 9),
            cuda::ConvEngine::CuDNN);
  // C*R*S past INT_MAX with every dimension alone in range.
  const Conv2dGeometry deep{1, std::int64_t{1} << 28, 3, 3, 1, 3, 3, 1, 1, 1, 1};
  EXPECT_FALSE(cuda::kiln_engine_fits(deep));
  EXPECT_EQ(cuda::deterministic_auto_engine(deep, cuda::MathMode::FP32, 9),
            cuda::ConvEngine::CuDNN);
}

TEST(DeterministicAutoEngine, SizesAtTheLimitStillFit) {
  // Exactly INT_MAX output pixels per image row is fine; one more is not.
  const Conv2dGeometry at_limit{1, 1, 1, 2147483647, 1, 1, 1, 1, 1, 0, 0};
  EXPECT_TRUE(cuda::kiln_engine_fits(at_limit));
  const Conv2dGeometry past{1, 1, 1, 2147483648LL, 1, 1, 1, 1, 1, 0, 0};
  std::int64_t too_large = 0;
  EXPECT_FALSE(cuda::kiln_engine_fits(past, &too_large));
  EXPECT_EQ(too_large, 2147483648LL);
}

}  // namespace
}  // namespace kiln
