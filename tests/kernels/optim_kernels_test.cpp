// Optimiser kernels: three steps worked by hand for Adam (Keras and PyTorch epsilon, decoupled
// decay) and SGD (momentum, Nesterov), then the float fast path against the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "kernels/optim.h"
#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

// Friendly constants so the hand arithmetic stays readable; eps is large so that where it goes
// (Keras vs PyTorch) changes the result visibly.
constexpr double kLr = 0.1, kBeta1 = 0.5, kBeta2 = 0.75, kEps = 0.01;
const double kGrads[3] = {1.0, -2.0, 0.5};

// The scalars the optimiser derives for step t (optim.h).
AdamScalars adam_scalars(int t, bool pytorch_eps, double decay = 0.0) {
  const double bias2 = std::sqrt(1 - std::pow(kBeta2, t));
  return {kBeta1, kBeta2, kLr * bias2 / (1 - std::pow(kBeta1, t)),
          pytorch_eps ? kEps * bias2 : kEps, decay};
}

// Runs three Adam steps on one parameter starting at 1 and returns it after each step.
std::vector<double> three_adam_steps(bool pytorch_eps, double decay) {
  double m = 0, v = 0, param = 1;
  std::vector<double> after;
  for (int t = 1; t <= 3; ++t) {
    adam_update_reference<double>(1, adam_scalars(t, pytorch_eps, decay), &kGrads[t - 1], &m, &v,
                                  &param);
    after.push_back(param);
  }
  return after;
}

// Moments, the same for every variant below (g = 1, -2, 0.5):
//   t=1: m = 0 + (1 - 0)(0.5) = 0.5;           v = 0 + (1 - 0)(0.25) = 0.25
//   t=2: m = 0.5 + (-2 - 0.5)(0.5) = -0.75;    v = 0.25 + (4 - 0.25)(0.25) = 1.1875
//   t=3: m = -0.75 + (0.5 + 0.75)(0.5) = -0.125; v = 1.1875 + (0.25 - 1.1875)(0.25) = 0.953125
// Step sizes a_t = lr sqrt(1 - 0.75^t) / (1 - 0.5^t):
//   a1 = 0.1 * 0.5 / 0.5 = 0.1;  a2 = 0.1 sqrt(0.4375) / 0.75 = 0.0881917103688197
//   a3 = 0.1 sqrt(0.578125) / 0.875 = 0.0868966075756889
TEST(AdamKernel, KerasEpsilonByHand) {
  // param -= a_t m / (sqrt(v) + 0.01):
  //   p1 = 1 - 0.1 * 0.5 / (0.5 + 0.01) = 1 - 0.0980392157 = 0.9019607843
  //   p2 = p1 + 0.0881917104 * 0.75 / (1.0897247359 + 0.01) = p1 + 0.0601457625 = 0.9621065468
  //   p3 = p2 + 0.0868966076 * 0.125 / (0.9762812095 + 0.01) = p2 + 0.0110131632 = 0.9731197100
  const double p1 = 1 - 0.1 * 0.5 / (0.5 + 0.01);
  const double p2 = p1 + 0.1 * std::sqrt(0.4375) / 0.75 * 0.75 / (std::sqrt(1.1875) + 0.01);
  const double p3 = p2 + 0.1 * std::sqrt(0.578125) / 0.875 * 0.125 / (std::sqrt(0.953125) + 0.01);
  const auto got = three_adam_steps(/*pytorch_eps=*/false, 0.0);
  EXPECT_NEAR(got[0], p1, 1e-14);
  EXPECT_NEAR(got[1], p2, 1e-14);
  EXPECT_NEAR(got[2], p3, 1e-14);
  EXPECT_NEAR(got[2], 0.9731197100368, 1e-12);
}

TEST(AdamKernel, PytorchEpsilonByHand) {
  // PyTorch's own form, independent of the folding into step_size / eps_hat:
  //   param -= lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - 0.5^t), v_hat = v / (1 - 0.75^t)
  //   t=1: m_hat = 0.5 / 0.5 = 1, v_hat = 0.25 / 0.25 = 1: p1 = 1 - 0.1 / 1.01 = 0.9009900990
  //   t=2: m_hat = -0.75 / 0.75 = -1, v_hat = 1.1875 / 0.4375 = 2.7142857143:
  //        p2 = p1 + 0.1 / (1.6475089407 + 0.01) = 0.9613215986
  //   t=3: m_hat = -0.125 / 0.875 = -0.1428571429, v_hat = 0.953125 / 0.578125 = 1.6486486486:
  //        p3 = p2 + 0.1 * 0.1428571429 / (1.2839971373 + 0.01) = 0.9723615877
  const double p1 = 1 - 0.1 * (0.5 / 0.5) / (std::sqrt(0.25 / 0.25) + 0.01);
  const double p2 = p1 - 0.1 * (-0.75 / 0.75) / (std::sqrt(1.1875 / 0.4375) + 0.01);
  const double p3 = p2 - 0.1 * (-0.125 / 0.875) / (std::sqrt(0.953125 / 0.578125) + 0.01);
  const auto got = three_adam_steps(/*pytorch_eps=*/true, 0.0);
  EXPECT_NEAR(got[0], p1, 1e-14);
  EXPECT_NEAR(got[1], p2, 1e-14);
  EXPECT_NEAR(got[2], p3, 1e-14);
  EXPECT_NEAR(got[2], 0.9723615876590, 1e-12);
}

TEST(AdamKernel, DecoupledDecayByHand) {
  // decay = 0.01 (lr 0.1 * weight decay 0.1), applied to the parameter before the Adam step and
  // never through m or v, so the Keras updates above are unchanged:
  //   p1 = 1 * 0.99 - 0.0980392157 = 0.8919607843
  //   p2 = p1 * 0.99 + 0.0601457625 = 0.9431869390
  //   p3 = p2 * 0.99 + 0.0110131632 = 0.9447682328
  const double u1 = 0.1 * 0.5 / (0.5 + 0.01);
  const double u2 = 0.1 * std::sqrt(0.4375) / 0.75 * 0.75 / (std::sqrt(1.1875) + 0.01);
  const double u3 = 0.1 * std::sqrt(0.578125) / 0.875 * 0.125 / (std::sqrt(0.953125) + 0.01);
  const double p1 = (1 - 0.01) * 1 - u1, p2 = (1 - 0.01) * p1 + u2, p3 = (1 - 0.01) * p2 + u3;
  const auto got = three_adam_steps(/*pytorch_eps=*/false, 0.01);
  EXPECT_NEAR(got[0], p1, 1e-14);
  EXPECT_NEAR(got[1], p2, 1e-14);
  EXPECT_NEAR(got[2], p3, 1e-14);
  EXPECT_NEAR(got[2], 0.9447682328040, 1e-12);
}

// Runs three SGD steps (g = 1, -2, 0.5) on one parameter starting at 1.
std::vector<double> three_sgd_steps(double momentum, bool nesterov, double decay) {
  double buf = 0, param = 1;
  std::vector<double> after;
  for (int t = 0; t < 3; ++t) {
    sgd_update_reference<double>(1, SgdScalars{kLr, momentum, decay, nesterov}, &kGrads[t],
                                 momentum == 0 ? nullptr : &buf, &param);
    after.push_back(param);
  }
  return after;
}

TEST(SgdKernel, MomentumAndNesterovByHand) {
  // lr 0.1, momentum 0.9; buf = 0.9 buf + g: 1, 0.9 - 2 = -1.1, -0.99 + 0.5 = -0.49.
  // Heavy ball, param -= 0.1 buf: 1 - 0.1 = 0.9; 0.9 + 0.11 = 1.01; 1.01 + 0.049 = 1.059.
  const auto heavy = three_sgd_steps(0.9, false, 0.0);
  EXPECT_NEAR(heavy[0], 0.9, 1e-15);
  EXPECT_NEAR(heavy[1], 1.01, 1e-15);
  EXPECT_NEAR(heavy[2], 1.059, 1e-15);
  // Nesterov, param -= 0.1 (g + 0.9 buf):
  //   1 - 0.1 (1 + 0.9) = 0.81; 0.81 - 0.1 (-2 - 0.99) = 1.109; 1.109 - 0.1 (0.5 - 0.441) = 1.1031
  const auto nesterov = three_sgd_steps(0.9, true, 0.0);
  EXPECT_NEAR(nesterov[0], 0.81, 1e-15);
  EXPECT_NEAR(nesterov[1], 1.109, 1e-15);
  EXPECT_NEAR(nesterov[2], 1.1031, 1e-15);
}

TEST(SgdKernel, PlainAndDecayByHand) {
  // No momentum (no buffer): param -= 0.1 g: 0.9, 1.1, 1.05.
  const auto plain = three_sgd_steps(0.0, false, 0.0);
  EXPECT_NEAR(plain[0], 0.9, 1e-15);
  EXPECT_NEAR(plain[1], 1.1, 1e-15);
  EXPECT_NEAR(plain[2], 1.05, 1e-15);
  // Decay 0.01 first: 0.99 - 0.1 = 0.89; 0.8811 + 0.2 = 1.0811; 1.070289 - 0.05 = 1.020289.
  const auto decayed = three_sgd_steps(0.0, false, 0.01);
  EXPECT_NEAR(decayed[0], 0.89, 1e-15);
  EXPECT_NEAR(decayed[1], 1.0811, 1e-15);
  EXPECT_NEAR(decayed[2], 1.020289, 1e-15);
}

TEST(SgdKernel, MomentumWithoutBufferIsAnError) {
  const float g = 1.f;
  float param = 1.f;
  const SgdScalars s{0.1, 0.9, 0.0, false};
  EXPECT_THROW(sgd_update_reference<float>(1, s, &g, nullptr, &param), kiln::Error);
  EXPECT_THROW(sgd_update_fast(1, s, &g, nullptr, &param), kiln::Error);
}

// Both paths do the same float operations per element in the same order; SIMD and threads do
// not reorder them, but a compiler may fuse a multiply-add in one loop and not the other. Over
// three steps that is a few roundings of quantities at most ~1 in size, so we allow 1e-6
// absolute (about 8 float ulps at 1), far below any update (>= 1e-3 here).
TEST(OptimKernels, FastMatchesReference) {
  std::uint64_t seed = 800;
  for (std::int64_t n : {1, 17, 1000, 100003}) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto param0 = test::random_floats(n, ++seed);
    std::vector<std::vector<float>> grads;
    for (int t = 0; t < 3; ++t) grads.push_back(test::random_floats(n, ++seed));

    for (bool pytorch_eps : {false, true}) {
      SCOPED_TRACE(pytorch_eps ? "adam, pytorch eps" : "adam, keras eps");
      std::vector<float> m_ref(n, 0.f), v_ref(n, 0.f), p_ref = param0;
      std::vector<float> m_fast(n, 0.f), v_fast(n, 0.f), p_fast = param0;
      for (int t = 1; t <= 3; ++t) {
        const AdamScalars s = adam_scalars(t, pytorch_eps, 1e-3);
        adam_update_reference<float>(n, s, grads[t - 1].data(), m_ref.data(), v_ref.data(),
                                     p_ref.data());
        adam_update_fast(n, s, grads[t - 1].data(), m_fast.data(), v_fast.data(), p_fast.data());
      }
      for (std::int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(p_fast[i], p_ref[i], 1e-6f) << i;
        ASSERT_NEAR(m_fast[i], m_ref[i], 1e-6f) << i;
        ASSERT_NEAR(v_fast[i], v_ref[i], 1e-6f) << i;
      }
    }

    for (int variant = 0; variant < 3; ++variant) {
      const SgdScalars s{0.05, variant == 0 ? 0.0 : 0.9, 1e-3, variant == 2};
      SCOPED_TRACE(testing::Message()
                   << "sgd, momentum " << s.momentum << " nesterov " << s.nesterov);
      std::vector<float> buf_ref(n, 0.f), buf_fast(n, 0.f), p_ref = param0, p_fast = param0;
      float* buf_ref_ptr = s.momentum == 0 ? nullptr : buf_ref.data();
      float* buf_fast_ptr = s.momentum == 0 ? nullptr : buf_fast.data();
      for (int t = 0; t < 3; ++t) {
        sgd_update_reference<float>(n, s, grads[t].data(), buf_ref_ptr, p_ref.data());
        sgd_update_fast(n, s, grads[t].data(), buf_fast_ptr, p_fast.data());
      }
      for (std::int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(p_fast[i], p_ref[i], 1e-6f) << i;
        ASSERT_NEAR(buf_fast[i], buf_ref[i], 1e-6f) << i;
      }
    }
  }
}

}  // namespace
}  // namespace kiln::kernels::cpu
