// The device-parity recipe itself (tests/layers/layer_on_devices.h) can fail: a value off by more
// than the tolerance, a missing value, and a layer whose float32 run differs from its float64 one.
#include "tests/layers/layer_on_devices.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <memory>

#include "layers/relu.h"

namespace kiln {
namespace {

TEST(LayerOnDevices, CloseRelativeNamesTheFirstDifference) {
  EXPECT_TRUE(test::close_relative({1.0, 2.0}, {1.0, 2.0 + 1e-6}, 1e-4, "y"));
  const auto off = test::close_relative({1.0, 2.5}, {1.0, 2.0}, 1e-4, "y");
  EXPECT_FALSE(off);
  EXPECT_NE(std::string(off.message()).find("y[1] = 2.5"), std::string::npos) << off.message();
  EXPECT_FALSE(test::close_relative({1.0}, {1.0, 2.0}, 1e-4, "y"));
}

// A layer that is not the same function in float32 as in float64: the recipe must catch it.
class DTypeDependent : public Module {
 public:
  DTypeDependent() : Module("odd") {}
  Tensor forward(const Tensor& x) override {
    return x.dtype() == DType::Float32 ? scale(x, 1.01) : x;
  }
};

TEST(LayerOnDevices, CatchesALayerThatDiffersOffTheReference) {
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    test::expect_layer_gradients_on<test::CpuFast>(
        [] { return std::make_shared<DTypeDependent>(); }, Shape{2, 3});
  }
  ASSERT_EQ(failures.size(), 2);  // the output and, through the scale, the input gradient
  EXPECT_NE(std::string(failures.GetTestPartResult(0).message()).find("output[0]"),
            std::string::npos);
  EXPECT_NE(std::string(failures.GetTestPartResult(1).message()).find("input gradient[0]"),
            std::string::npos);
}

TEST(LayerOnDevices, HerePutsTheTensorInTheDevicesDType) {
  const Tensor x = test::OnEveryDevice<test::CpuFast>::here(Shape{2}, {1, 2});
  EXPECT_EQ(x.dtype(), DType::Float32);
  EXPECT_EQ(x.device(), Device::CPU);
  EXPECT_EQ(test::OnEveryDevice<test::CpuReference>::here(x).dtype(), DType::Float64);
}

}  // namespace
}  // namespace kiln
