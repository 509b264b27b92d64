// Softmax cross-entropy: float paths against the double reference, then the properties that
// catch the classic mistakes (overflow, wrong normaliser, label/one-hot mismatch, bad gradient).
#include "kernels/loss.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/support/test_data.h"

namespace kiln::kernels::cpu {
namespace {

using test::kSentinelA;
using test::kSentinelB;

std::vector<float> one_hot(const std::vector<std::int32_t>& labels, std::int64_t k) {
  std::vector<float> t(labels.size() * k, 0.f);
  for (std::size_t i = 0; i < labels.size(); ++i) t[i * k + labels[i]] = 1.f;
  return t;
}

// Soft targets: random positive rows normalised to sum to 1.
std::vector<float> soft_targets(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  auto t = test::random_floats(n * k, seed, 0.f, 1.f);
  for (std::int64_t i = 0; i < n; ++i) {
    float sum = 0.f;
    for (std::int64_t j = 0; j < k; ++j) sum += t[i * k + j];
    for (std::int64_t j = 0; j < k; ++j) t[i * k + j] /= sum;
  }
  return t;
}

// Tolerances against the double reference, for logits in [-5, 5]. The float shift l - max (up
// to 10 in size) rounds by up to 10 * FLT_EPSILON / 2 absolute, which exp turns into a relative
// error of 5 FLT_EPSILON; exp itself, the division and the cast add about 1.5 more. So probs get
// 8 FLT_EPSILON relative (+1e-30 for underflow). The loss is log(row sum) - logit: its error is
// the sum's relative error, so 8 FLT_EPSILON absolute. Gradients are scale * (p - t): the probs'
// error plus two roundings, so 10 FLT_EPSILON * scale absolute.
void expect_matches_double(std::int64_t n, std::int64_t k, const std::vector<float>& logits,
                           const std::vector<std::int32_t>* labels,
                           const std::vector<float>* targets, bool fast) {
  const std::int32_t* lab = labels ? labels->data() : nullptr;
  const float* tgt = targets ? targets->data() : nullptr;
  const std::vector<double> logits_d(logits.begin(), logits.end());
  std::vector<double> tgt_d;
  if (targets) tgt_d.assign(targets->begin(), targets->end());
  std::vector<double> probs_d(n * k, kSentinelA), grad_d(n * k, kSentinelA);
  const double scale = 1.0 / n;
  const double loss_d = softmax_cross_entropy_forward_reference<double>(
      n, k, logits_d.data(), lab, targets ? tgt_d.data() : nullptr, probs_d.data());
  softmax_cross_entropy_backward_reference<double>(
      n, k, probs_d.data(), lab, targets ? tgt_d.data() : nullptr, scale, grad_d.data());

  const float sentinel = fast ? kSentinelB : kSentinelA;
  std::vector<float> probs(n * k, sentinel), grad(n * k, sentinel);
  double loss;
  if (fast) {
    loss = softmax_cross_entropy_forward_fast(n, k, logits.data(), lab, tgt, probs.data());
    softmax_cross_entropy_backward_fast(n, k, probs.data(), lab, tgt, float(scale), grad.data());
  } else {
    loss =
        softmax_cross_entropy_forward_reference<float>(n, k, logits.data(), lab, tgt, probs.data());
    softmax_cross_entropy_backward_reference<float>(n, k, probs.data(), lab, tgt, float(scale),
                                                    grad.data());
  }
  EXPECT_NEAR(loss, loss_d, 8 * FLT_EPSILON);
  for (std::int64_t i = 0; i < n * k; ++i) {
    ASSERT_NEAR(probs[i], probs_d[i], 8 * FLT_EPSILON * probs_d[i] + 1e-30) << "probs " << i;
    ASSERT_NEAR(grad[i], grad_d[i], 10 * FLT_EPSILON * scale) << "grad " << i;
  }
}

TEST(SoftmaxCrossEntropyKernels, FloatPathsMatchDoubleReference) {
  std::uint64_t seed = 700;
  for (std::int64_t n : {1, 3, 64, 257})
    for (std::int64_t k : {1, 2, 10, 1000}) {
      SCOPED_TRACE(testing::Message() << "n=" << n << " k=" << k);
      const auto logits = test::random_floats(n * k, ++seed, -5.f, 5.f);
      const auto labels = test::random_ints(n, ++seed, 0, std::int32_t(k));
      const auto targets = soft_targets(n, k, ++seed);
      for (bool fast : {false, true}) {
        SCOPED_TRACE(fast ? "fast" : "float reference");
        expect_matches_double(n, k, logits, &labels, nullptr, fast);
        expect_matches_double(n, k, logits, nullptr, &targets, fast);
      }
    }
}

TEST(SoftmaxCrossEntropyKernels, HugeLogitsStayFinite) {
  // A naive exp(1e4) overflows to inf (in double too); log-sum-exp shifts it to exp(0) = 1.
  const std::vector<float> logits = {1e4f, 0.f, -1e4f, 1e4f, 1e4f - 1.f, -1e4f};
  const std::vector<std::int32_t> labels = {0, 2};
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    std::vector<float> probs(6, fast ? kSentinelB : kSentinelA);
    const double loss = fast ? softmax_cross_entropy_forward_fast(
                                   2, 3, logits.data(), labels.data(), nullptr, probs.data())
                             : softmax_cross_entropy_forward_reference<float>(
                                   2, 3, logits.data(), labels.data(), nullptr, probs.data());
    ASSERT_TRUE(std::isfinite(loss));
    // Row 0: label 0 holds all the mass, loss = log(1 + e^-1e4 + e^-2e4) ~ 0.
    // Row 1: lse = 1e4 + log(1 + e^-1) (the third term is negligible); label 2 has logit -1e4,
    // so loss = 2e4 + log(1 + e^-1). Mean = (2e4 + 0.3132617) / 2.
    EXPECT_NEAR(loss, (2e4 + std::log1p(std::exp(-1.0))) / 2, 1e-3);
    for (float p : probs) EXPECT_TRUE(std::isfinite(p));
    EXPECT_EQ(probs[0], 1.f);
    EXPECT_NEAR(probs[3], 1 / (1 + std::exp(-1.0)), 1e-6);
  }
}

TEST(SoftmaxCrossEntropyKernels, UniformLogitsGiveLogK) {
  for (std::int64_t k : {2, 10, 1000}) {
    SCOPED_TRACE(testing::Message() << "k=" << k);
    const std::int64_t n = 4;
    const std::vector<float> logits(n * k, 3.25f);  // any constant row is uniform after softmax
    const auto labels = test::random_ints(n, 710, 0, std::int32_t(k));
    std::vector<float> probs(n * k, kSentinelB);
    const double loss = softmax_cross_entropy_forward_fast(n, k, logits.data(), labels.data(),
                                                           nullptr, probs.data());
    // The shifted row is all zeros, exp(0) = 1 exactly, the sum is exactly k: loss = log(k).
    EXPECT_NEAR(loss, std::log(double(k)), 1e-12);
    for (float p : probs) EXPECT_FLOAT_EQ(p, 1.f / k);
  }
}

TEST(SoftmaxCrossEntropyKernels, LabelsAndOneHotTargetsAgreeExactly) {
  const std::int64_t n = 33, k = 10;
  const auto logits = test::random_floats(n * k, 720, -8.f, 8.f);
  const auto labels = test::random_ints(n, 721, 0, k);
  const auto targets = one_hot(labels, k);
  const float scale = 0.7f / n;
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast" : "reference");
    std::vector<float> p_lab(n * k, kSentinelA), p_tgt(n * k, kSentinelB);
    std::vector<float> g_lab(n * k, kSentinelA), g_tgt(n * k, kSentinelB);
    auto forward =
        fast ? softmax_cross_entropy_forward_fast : softmax_cross_entropy_forward_reference<float>;
    auto backward = fast ? softmax_cross_entropy_backward_fast
                         : softmax_cross_entropy_backward_reference<float>;
    const double loss_lab = forward(n, k, logits.data(), labels.data(), nullptr, p_lab.data());
    const double loss_tgt = forward(n, k, logits.data(), nullptr, targets.data(), p_tgt.data());
    backward(n, k, p_lab.data(), labels.data(), nullptr, scale, g_lab.data());
    backward(n, k, p_tgt.data(), nullptr, targets.data(), scale, g_tgt.data());
    // A one-hot row adds only +0.0 terms besides the label's, so the two paths are identical.
    EXPECT_EQ(loss_lab, loss_tgt);
    EXPECT_EQ(p_lab, p_tgt);
    EXPECT_EQ(g_lab, g_tgt);
  }
}

TEST(SoftmaxCrossEntropyKernels, GradientRowsSumToZero) {
  // Each row is scale * (probs - target); both sum to 1, so the row sums to 0 up to rounding:
  // k terms of magnitude <= |scale|, each off by <= FLT_EPSILON relative, summed in double.
  const std::int64_t n = 20, k = 100;
  const auto logits = test::random_floats(n * k, 730, -5.f, 5.f);
  const auto labels = test::random_ints(n, 731, 0, k);
  const auto targets = soft_targets(n, k, 732);
  const float scale = 1.f / n;
  for (bool use_labels : {true, false}) {
    SCOPED_TRACE(use_labels ? "labels" : "soft targets");
    const std::int32_t* lab = use_labels ? labels.data() : nullptr;
    const float* tgt = use_labels ? nullptr : targets.data();
    std::vector<float> probs(n * k, kSentinelB), grad(n * k, kSentinelB);
    softmax_cross_entropy_forward_fast(n, k, logits.data(), lab, tgt, probs.data());
    softmax_cross_entropy_backward_fast(n, k, probs.data(), lab, tgt, scale, grad.data());
    for (std::int64_t i = 0; i < n; ++i) {
      double row = 0;
      for (std::int64_t j = 0; j < k; ++j) row += grad[i * k + j];
      EXPECT_NEAR(row, 0.0, 4 * k * FLT_EPSILON * scale) << "row " << i;
    }
  }
}

TEST(SoftmaxCrossEntropyKernels, SoftTargetHandCase) {
  // logits [0, ln 3] -> probs [1/4, 3/4]. Target [1/2, 1/2]:
  // loss = -(1/2) ln(1/4) - (1/2) ln(3/4) = ln 2 + (1/2) ln(4/3) = 0.8369882167858358.
  // With scale 1 (one row, upstream 1): grad = probs - target = [-1/4, 1/4].
  const std::vector<double> logits = {0.0, std::log(3.0)}, target = {0.5, 0.5};
  std::vector<double> probs(2, kSentinelA), grad(2, kSentinelA);
  const double loss = softmax_cross_entropy_forward_reference<double>(1, 2, logits.data(), nullptr,
                                                                      target.data(), probs.data());
  softmax_cross_entropy_backward_reference<double>(1, 2, probs.data(), nullptr, target.data(), 1.0,
                                                   grad.data());
  EXPECT_NEAR(loss, std::log(2.0) + 0.5 * std::log(4.0 / 3.0), 1e-15);
  EXPECT_NEAR(probs[0], 0.25, 1e-15);
  EXPECT_NEAR(probs[1], 0.75, 1e-15);
  EXPECT_NEAR(grad[0], -0.25, 1e-15);
  EXPECT_NEAR(grad[1], 0.25, 1e-15);
}

TEST(SoftmaxCrossEntropyKernels, GradientMatchesCentralDifferences) {
  // With scale = upstream / N = 1 / N, glogits is d(mean loss)/d(logits). Central differences
  // in double with h = 1e-5 have truncation error ~h^2 * |f'''| ~ 1e-10 and rounding error
  // ~1e-16 / h = 1e-11; 1e-8 absolute leaves room for both.
  const std::int64_t n = 3, k = 5;
  const auto logits = test::random_doubles(n * k, 740, -3.0, 3.0);
  const auto labels = test::random_ints(n, 741, 0, k);
  std::vector<double> probs(n * k), grad(n * k, kSentinelA);
  softmax_cross_entropy_forward_reference<double>(n, k, logits.data(), labels.data(), nullptr,
                                                  probs.data());
  softmax_cross_entropy_backward_reference<double>(n, k, probs.data(), labels.data(), nullptr,
                                                   1.0 / n, grad.data());
  const double h = 1e-5;
  for (std::int64_t i = 0; i < n * k; ++i) {
    auto shifted = logits;
    shifted[i] = logits[i] + h;
    const double up = softmax_cross_entropy_forward_reference<double>(
        n, k, shifted.data(), labels.data(), nullptr, probs.data());
    shifted[i] = logits[i] - h;
    const double down = softmax_cross_entropy_forward_reference<double>(
        n, k, shifted.data(), labels.data(), nullptr, probs.data());
    EXPECT_NEAR(grad[i], (up - down) / (2 * h), 1e-8) << i;
  }
}

}  // namespace
}  // namespace kiln::kernels::cpu
