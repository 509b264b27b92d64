// Adam against updates worked out by hand from the formulas (KERAS-FORMATS.md section 4), for one
// scalar parameter and known gradients, in float64 where the kernel's rounding is far below the
// tolerance. With t = step + 1:
//   m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); a = lr * sqrt(1 - b2^t) / (1 - b1^t)
//   theta -= lr * wd * theta;  theta -= a * m / (sqrt(v) + eps_hat)
//   eps_hat = eps (Keras) or eps * sqrt(1 - b2^t) (PyTorch).
// Common settings: theta0 = 1, lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-3 (large, so where it
// sits changes the result visibly), gradients 0.02, -0.01, 0.03.
#include "optim/adam.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/dispatch.h"
#include "core/random.h"

namespace kiln {
namespace {

constexpr double kTol = 1e-12;

AdamOptions hand_options(EpsilonPlacement placement, double weight_decay = 0) {
  AdamOptions o;
  o.lr = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-3;
  o.epsilon_placement = placement;
  o.weight_decay = weight_decay;
  return o;
}

Tensor scalar_param(double value, DType dtype = DType::Float64) {
  Tensor p = Tensor::full(Shape{1}, value, dtype);
  p.set_requires_grad(true);
  return p;
}

// Gives p the gradient g, as backward() would.
void set_gradient(Tensor& p, double g) { p.set_grad(Tensor::full(Shape{1}, g, p.dtype())); }

// Runs the three common steps; returns theta after each.
std::vector<double> three_steps(const AdamOptions& options, Adam** out = nullptr) {
  Tensor theta = scalar_param(1.0);
  Adam adam({theta}, options);
  std::vector<double> after;
  for (double g : {0.02, -0.01, 0.03}) {
    set_gradient(theta, g);
    adam.step();
    after.push_back(theta.item());
  }
  return after;
}

TEST(Adam, KerasEpsilonByHand) {
  // t = 1: m = 0.1 * 0.02 = 0.002; v = 0.001 * 0.0004 = 4e-7; sqrt(v) = 6.32456e-4
  //        a = 0.1 * sqrt(0.001) / 0.1 = 0.0316228
  //        theta = 1 - 0.0316228 * 0.002 / (6.32456e-4 + 1e-3) = 0.9612574113277207
  // t = 2: m = 0.002 + (-0.01 - 0.002) * 0.1 = 8e-4; v = 4e-7 + (1e-4 - 4e-7) * 0.001 = 4.996e-7
  //        a = 0.1 * sqrt(1 - 0.999^2) / (1 - 0.9^2) = 0.1 * 0.0447102 / 0.19 = 0.0235317
  //        theta = 0.96125741 - 0.0235317 * 8e-4 / (7.06824e-4 + 1e-3) = 0.9502279558425836
  // t = 3: m = 8e-4 + (0.03 - 8e-4) * 0.1 = 3.72e-3; v = 4.996e-7 + (9e-4 - 4.996e-7) * 0.001
  //        = 1.3991004e-6; a = 0.1 * sqrt(1 - 0.999^3) / (1 - 0.9^3) = 0.0202011
  //        theta = 0.95022796 - 0.0202011 * 3.72e-3 / (1.182836e-3 + 1e-3) = 0.9158012050372002
  const std::vector<double> theta = three_steps(hand_options(EpsilonPlacement::Keras));
  EXPECT_NEAR(theta[0], 0.9612574113277207, kTol);
  EXPECT_NEAR(theta[1], 0.9502279558425836, kTol);
  EXPECT_NEAR(theta[2], 0.9158012050372002, kTol);
}

TEST(Adam, PyTorchEpsilonByHand) {
  // Same m, v, a as above; eps_hat = 1e-3 * sqrt(1 - 0.999^t).
  // t = 1: eps_hat = 3.16228e-5; theta = 1 - 0.0316228 * 0.002 / (6.32456e-4 + 3.16228e-5)
  //        = 1 - 0.0952381 = 0.9047619047619048 (exactly 1 - 0.1 * 0.02 / 0.021)
  // t = 2: eps_hat = 4.47102e-5; theta = 0.9047619 - 0.0235317 * 8e-4 / 7.51534e-4
  //        = 0.8797126900478923
  // t = 3: eps_hat = 5.47449e-5; theta = 0.8797127 - 0.0202011 * 3.72e-3 / 1.237580e-3
  //        = 0.818991035868967
  const std::vector<double> theta = three_steps(hand_options(EpsilonPlacement::PyTorch));
  EXPECT_NEAR(theta[0], 0.9047619047619048, kTol);
  EXPECT_NEAR(theta[1], 0.8797126900478923, kTol);
  EXPECT_NEAR(theta[2], 0.818991035868967, kTol);
}

TEST(Adam, DecoupledWeightDecayByHand) {
  // AdamW, weight_decay 0.1: theta first shrinks by lr * wd = 1%, then takes the Keras step
  // (whose size does not depend on theta).
  // t = 1: theta = 1 * 0.99 - 0.0387426 = 0.9512574113277207
  // t = 2: theta = 0.95125741 * 0.99 - 0.0110295 = 0.9307153817293063
  // t = 3: theta = 0.93071538 * 0.99 - 0.0344268 = 0.8869814771066299
  const std::vector<double> theta = three_steps(hand_options(EpsilonPlacement::Keras, 0.1));
  EXPECT_NEAR(theta[0], 0.9512574113277207, kTol);
  EXPECT_NEAR(theta[1], 0.9307153817293063, kTol);
  EXPECT_NEAR(theta[2], 0.8869814771066299, kTol);
}

TEST(Adam, MomentsAreExposed) {
  Tensor theta = scalar_param(1.0);
  Adam adam({theta}, hand_options(EpsilonPlacement::Keras));
  EXPECT_FALSE(adam.first_moment(0).defined());  // nothing until the first update
  for (double g : {0.02, -0.01}) {
    set_gradient(theta, g);
    adam.step();
  }
  // From the hand computation above, after t = 2.
  EXPECT_NEAR(adam.first_moment(0).item(), 8e-4, kTol);
  EXPECT_NEAR(adam.second_moment(0).item(), 4.996e-7, kTol);
  EXPECT_EQ(adam.step_count(), 2);
}

TEST(Adam, ScalarsFollowTheStep) {
  Adam adam({scalar_param(0)}, hand_options(EpsilonPlacement::PyTorch, 0.5));
  const kernels::AdamScalars s = adam.scalars(2);
  EXPECT_NEAR(s.step_size, 0.1 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9), kTol);
  EXPECT_NEAR(s.eps_hat, 1e-3 * std::sqrt(1 - 0.999 * 0.999), kTol);
  EXPECT_NEAR(s.decay, 0.1 * 0.5, kTol);
  adam.set_learning_rate(0.01);  // a schedule changes step size and decay alike
  EXPECT_NEAR(adam.scalars(2).step_size, s.step_size / 10, kTol);
  EXPECT_NEAR(adam.scalars(2).decay, s.decay / 10, kTol);
}

TEST(Adam, LateFirstGradientUsesTheGlobalStep) {
  // Keras counts steps globally: a parameter whose first gradient arrives at t = 3 starts from
  // zero moments with t = 3's bias correction.
  // m = 0.1 * 0.02 = 0.002; v = 0.001 * 0.0004 = 4e-7; a = 0.1 * sqrt(1 - 0.999^3) / (1 - 0.9^3)
  // = 0.0202011; theta = 1 - 0.0202011 * 0.002 / (6.32456e-4 + 1e-3) = 0.9752507074802451
  Tensor theta = scalar_param(1.0);
  Adam adam({theta}, hand_options(EpsilonPlacement::Keras));
  adam.step();
  adam.step();
  EXPECT_EQ(theta.item(), 1.0);
  set_gradient(theta, 0.02);
  adam.step();
  EXPECT_NEAR(theta.item(), 0.9752507074802451, kTol);
}

TEST(Adam, Float32AndFloat64Agree) {
  // Same random parameters and gradients in both dtypes, 20 steps; float32 (the fast engine)
  // tracks float64 to float32 rounding accumulated over the steps.
  Generator gen(3);
  const Tensor start = Tensor::uniform(Shape{1000}, -1, 1, gen, DType::Float64);
  Tensor p64 = start.clone(), p32 = start.to(DType::Float32);
  p64.set_requires_grad(true);
  p32.set_requires_grad(true);
  Adam a64({p64}), a32({p32});
  for (int step = 0; step < 20; ++step) {
    const Tensor g = Tensor::uniform(Shape{1000}, -1, 1, gen, DType::Float64);
    p64.set_grad(g);
    p32.set_grad(g.to(DType::Float32));
    a64.step();
    a32.step();
  }
  const std::vector<double> x64 = p64.to_double_vector(), x32 = p32.to_double_vector();
  for (std::size_t i = 0; i < x64.size(); ++i) ASSERT_NEAR(x32[i], x64[i], 1e-5) << i;
  // The parameters did move: 20 steps of about lr each.
  EXPECT_GT(std::abs(x64[0] - start.to_double_vector()[0]), 1e-3);
}

TEST(Adam, FastAndReferenceEnginesAgreeInFloat32) {
  struct EngineGuard {
    CpuEngine saved = cpu_engine();
    ~EngineGuard() { set_cpu_engine(saved); }
  } guard;
  Generator gen(4);
  const Tensor start = Tensor::uniform(Shape{40000}, -1, 1, gen);  // above the threading cutoff
  const Tensor grad = Tensor::uniform(Shape{40000}, -1, 1, gen);
  std::vector<std::vector<double>> results;
  for (CpuEngine engine : {CpuEngine::Fast, CpuEngine::Reference}) {
    set_cpu_engine(engine);
    Tensor p = start.clone();
    p.set_requires_grad(true);
    Adam adam({p});
    for (int step = 0; step < 3; ++step) {
      p.set_grad(grad);
      adam.step();
    }
    results.push_back(p.to_double_vector());
  }
  for (std::size_t i = 0; i < results[0].size(); ++i) {
    ASSERT_NEAR(results[0][i], results[1][i], 1e-6) << i;
  }
}

TEST(Adam, SetMomentsRestoresState) {
  Tensor a = scalar_param(1.0), b = scalar_param(1.0);
  Adam first({a}, hand_options(EpsilonPlacement::Keras));
  set_gradient(a, 0.02);
  first.step();
  // A checkpoint of `first` carried into `second`: the next step must agree.
  b.copy_from(a);
  Adam second({b}, hand_options(EpsilonPlacement::Keras));
  second.set_step_count(first.step_count());
  second.set_moments(0, first.first_moment(0).clone(), first.second_moment(0).clone());
  set_gradient(a, -0.01);
  set_gradient(b, -0.01);
  first.step();
  second.step();
  EXPECT_EQ(a.item(), b.item());
  EXPECT_NEAR(b.item(), 0.9502279558425836, kTol);
  EXPECT_THROW(second.set_moments(0, Tensor::zeros(Shape{2}, DType::Float64),
                                  Tensor::zeros(Shape{2}, DType::Float64)),
               Error);
}

TEST(Adam, RejectsBadOptions) {
  AdamOptions o;
  o.beta1 = 1.0;
  EXPECT_THROW(Adam({scalar_param(0)}, o), Error);
  o = AdamOptions{};
  o.lr = -1;
  EXPECT_THROW(Adam({scalar_param(0)}, o), Error);
}

TEST(Adam, DefaultsAreKeras) {
  const AdamOptions o;
  EXPECT_EQ(o.lr, 1e-3);
  EXPECT_EQ(o.beta1, 0.9);
  EXPECT_EQ(o.beta2, 0.999);
  EXPECT_EQ(o.eps, 1e-7);
  EXPECT_EQ(o.epsilon_placement, EpsilonPlacement::Keras);
  EXPECT_EQ(o.weight_decay, 0.0);
}

}  // namespace
}  // namespace kiln
