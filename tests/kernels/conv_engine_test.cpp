// The conv-engine setting (kernels/conv2d.h): names, parsing and the process-wide value. Runs in
// every build; the engines themselves are tested against the CPU in tests/cuda/conv_linear_test.cpp.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;

TEST(ConvEngine, NamesParseBackToTheSameEngine) {
  for (cuda::ConvEngine e : {cuda::ConvEngine::Auto, cuda::ConvEngine::CuDNN,
                             cuda::ConvEngine::Kiln}) {
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

}  // namespace
}  // namespace kiln
