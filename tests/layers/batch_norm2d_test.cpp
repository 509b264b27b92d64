// BatchNorm2d on every device (tests/support/devices.h): Keras' normalisation with the batch's
// statistics in training and the moving ones in evaluation or when frozen, Keras' moving-average
// rule, and gradients in both modes (float64 finite differences on the CPU reference, agreement
// with it on the others). Expected values are computed here on the host, in double, from the
// formulas of Keras' BatchNormalization, not by the kernels under test.
#include "layers/batch_norm2d.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "tests/layers/layer_on_devices.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

constexpr std::int64_t kN = 3, kC = 4, kH = 2, kW = 3;

// gamma, beta and the moving statistics set to values far from their initial ones, so that a
// kernel that ignores one of them fails.
std::shared_ptr<BatchNorm2d> make_bn(bool training) {
  auto bn = std::make_shared<BatchNorm2d>("bn", kC, BatchNormOptions{0.9, 1e-3});
  Generator gen(5);
  Tensor gamma = bn->gamma(), beta = bn->beta(), mean = bn->moving_mean(),
         var = bn->moving_variance();
  gamma.copy_from(Tensor::uniform(Shape{kC}, 0.5, 2.0, gen));
  beta.copy_from(Tensor::uniform(Shape{kC}, -1.0, 1.0, gen));
  mean.copy_from(Tensor::uniform(Shape{kC}, -0.5, 0.5, gen));
  var.copy_from(Tensor::uniform(Shape{kC}, 0.5, 1.5, gen));
  bn->train(training);
  return bn;
}

// x (N, C, H, W) with a different mean and spread per channel.
Tensor input(std::uint64_t seed) {
  Generator gen(seed);
  std::vector<double> v =
      Tensor::uniform(Shape{kN, kC, kH, kW}, -1, 1, gen, DType::Float64).to_double_vector();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<double>((i / (kH * kW)) % kC);
    v[i] = v[i] * (1 + c) + 3 * c;
  }
  return Tensor::from_vector<double>(Shape{kN, kC, kH, kW}, v);
}

struct ChannelStats {
  std::vector<double> mean, var;  // biased variance, as Keras
};
ChannelStats stats_of(const std::vector<double>& x) {
  ChannelStats s{std::vector<double>(kC, 0), std::vector<double>(kC, 0)};
  const double m = kN * kH * kW;
  for (std::size_t i = 0; i < x.size(); ++i) s.mean[(i / (kH * kW)) % kC] += x[i] / m;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t c = (i / (kH * kW)) % kC;
    s.var[c] += (x[i] - s.mean[c]) * (x[i] - s.mean[c]) / m;
  }
  return s;
}

// y = (x - mean) / sqrt(var + eps) * gamma + beta, per channel.
std::vector<double> normalised(const std::vector<double>& x, const ChannelStats& s,
                               const BatchNorm2d& bn) {
  const std::vector<double> g = bn.gamma().to(Device::CPU).to_double_vector();
  const std::vector<double> b = bn.beta().to(Device::CPU).to_double_vector();
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t c = (i / (kH * kW)) % kC;
    y[i] = (x[i] - s.mean[c]) / std::sqrt(s.var[c] + bn.options().epsilon) * g[c] + b[c];
  }
  return y;
}

template <typename D>
class BatchNorm2dOn : public test::OnEveryDevice<D> {
 protected:
  static std::shared_ptr<BatchNorm2d> here_bn(bool training) {
    auto bn = make_bn(training);
    bn->to(D::kDType);
    bn->to(D::kDevice);
    return bn;
  }
  static constexpr double kTol = std::is_same_v<D, test::CpuReference> ? 1e-12 : 2e-5;
};
TYPED_TEST_SUITE(BatchNorm2dOn, test::EveryDevice, test::DeviceNames);

TYPED_TEST(BatchNorm2dOn, TrainingNormalisesWithTheBatchAndMovesTheMovingStatistics) {
  auto bn = TestFixture::here_bn(true);
  const std::vector<double> mean0 = TestFixture::values(bn->moving_mean());
  const std::vector<double> var0 = TestFixture::values(bn->moving_variance());
  const Tensor x = input(1);
  const Tensor y = (*bn)(TestFixture::here(x));
  EXPECT_EQ(y.device(), TypeParam::kDevice);
  const std::vector<double> xv = TestFixture::values(TestFixture::here(x));
  const ChannelStats batch = stats_of(xv);
  EXPECT_TRUE(test::close_relative(TestFixture::values(y), normalised(xv, batch, *bn),
                                   TestFixture::kTol, "y"));
  // Keras: moving = momentum * moving + (1 - momentum) * batch, with the biased variance.
  std::vector<double> want_mean(kC), want_var(kC);
  for (std::int64_t c = 0; c < kC; ++c) {
    want_mean[c] = 0.9 * mean0[c] + 0.1 * batch.mean[c];
    want_var[c] = 0.9 * var0[c] + 0.1 * batch.var[c];
  }
  EXPECT_TRUE(test::close_relative(TestFixture::values(bn->moving_mean()), want_mean,
                                   TestFixture::kTol, "moving_mean"));
  EXPECT_TRUE(test::close_relative(TestFixture::values(bn->moving_variance()), want_var,
                                   TestFixture::kTol, "moving_variance"));
}

TYPED_TEST(BatchNorm2dOn, EvaluationAndFrozenUseTheMovingStatisticsAndLeaveThem) {
  for (const bool frozen : {false, true}) {
    SCOPED_TRACE(frozen ? "frozen, in training mode" : "evaluation mode");
    auto bn = TestFixture::here_bn(/*training=*/frozen);
    if (frozen) bn->set_trainable(false);
    EXPECT_FALSE(bn->uses_batch_statistics());
    const ChannelStats moving{TestFixture::values(bn->moving_mean()),
                              TestFixture::values(bn->moving_variance())};
    const Tensor x = TestFixture::here(input(2));
    const Tensor y = (*bn)(x);
    EXPECT_TRUE(test::close_relative(TestFixture::values(y),
                                     normalised(TestFixture::values(x), moving, *bn),
                                     TestFixture::kTol, "y"));
    EXPECT_EQ(TestFixture::values(bn->moving_mean()), moving.mean);
    EXPECT_EQ(TestFixture::values(bn->moving_variance()), moving.var);
  }
}

TYPED_TEST(BatchNorm2dOn, GradientsWithBatchStatistics) {
  test::expect_layer_gradients_on<TypeParam>([] { return make_bn(true); }, Shape{kN, kC, kH, kW});
}

TYPED_TEST(BatchNorm2dOn, GradientsWithMovingStatistics) {
  test::expect_layer_gradients_on<TypeParam>([] { return make_bn(false); }, Shape{kN, kC, kH, kW});
}

TYPED_TEST(BatchNorm2dOn, OneValuePerChannelNormalisesToBeta) {
  // M = 1: the batch variance is 0, so xhat = 0 and y = beta, with no division by zero.
  auto bn = TestFixture::here_bn(true);
  const Tensor y = (*bn)(TestFixture::here(Tensor::ones(Shape{1, kC, 1, 1})));
  EXPECT_TRUE(test::close_relative(TestFixture::values(y), TestFixture::values(bn->beta()),
                                   TestFixture::kTol, "y"));
}

TEST(BatchNorm2d, StateIsKerasWeightsInKerasOrder) {
  BatchNorm2d bn("bn", 8);
  std::vector<std::string> names;
  for (const StateTensor& s : bn.named_state()) names.push_back(s.name + (s.is_buffer ? "*" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"bn/gamma", "bn/beta", "bn/moving_mean*",
                                             "bn/moving_variance*"}));
  EXPECT_EQ(bn.trainable_parameters().size(), 2u);
  EXPECT_EQ(bn.parameter_count(), 4 * 8);  // Keras' count_params() counts the moving ones too
  EXPECT_EQ(bn.keras_class(), "batch_normalization");
  EXPECT_EQ(bn.gamma().to_double_vector(), std::vector<double>(8, 1.0));
  EXPECT_EQ(bn.moving_variance().to_double_vector(), std::vector<double>(8, 1.0));
  EXPECT_FALSE(bn.moving_mean().requires_grad());
}

TEST(BatchNorm2d, BadInputNamesTheLayerAndTheShapes) {
  BatchNorm2d bn("block1_bn", 4);
  EXPECT_EQ(test::error_of([&] {
              bn(Tensor::zeros(Shape{2, 3, 4, 4}));
            }),
            "BatchNorm2d 'block1_bn': input [2,3,4,4] does not have 4 channels (expected (N, "
            "4, H, W))");
  EXPECT_EQ(test::error_of([&] {
              bn(Tensor::zeros(Shape{0, 4, 4, 4}));
            }),
            "batch_norm2d: batch statistics of an empty batch [0,4,4,4] are undefined");
  EXPECT_EQ(test::error_of([] { BatchNorm2d("bn", 0); }),
            "BatchNorm2d 'bn': channels must be positive, got 0");
}

}  // namespace
}  // namespace kiln
