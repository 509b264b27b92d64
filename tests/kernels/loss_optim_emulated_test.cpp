// The softmax cross-entropy, count_correct and optimiser kernels (kernels/cuda/loss_kernels.cuh,
// optim_kernels.cuh), the very source nvcc builds, run on the CPU through the CUDA emulation and
// launched by the library's own queue_* functions, against their CPU twins: the bodies of
// tests/cuda/loss_optim_parity_test.cpp, at sizes the emulation runs in moments. CPU outputs start
// as kSentinelA, emulated ones as kSentinelB; workspaces start as NaN.
//
// Tolerances, those of the GPU test:
// - Softmax probabilities: 2e-6 relative. Here expf is the host's, as on the CPU, so the terms
//   agree; the sums are reordered (a tree per row, then a tree over rows), so a probability may
//   still differ by an ulp or two. On a GPU, CUDA's expf (2 ulps) adds to that.
// - The loss: 2e-6 (log(sum) inherits the sum's relative error as an absolute one).
// - The backward, given the same probs: one subtraction and one multiply per element: bitwise.
// - Adam and SGD: the same float operations in the same order, spelled __f*_rn: bitwise.
// - count_correct: integers, exact; ties go to the first maximum, as std::max_element picks.

// clang-format off
#include "tests/support/cuda_emulation.h"
// clang-format on

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cuda/loss_kernels.cuh"
#include "kernels/cuda/optim_kernels.cuh"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "tests/cuda/parity.h"
#include "tests/support/emulated_launch.h"
#include "tests/support/test_data.h"

namespace kiln::kernels {
namespace {

namespace emulated = cuda::emulated;
using test::EmulatedLaunch;
using test::kSentinelA;
using test::kSentinelB;

using test::kLossTol;
using test::kProbRelTol;
using test::random_target_rows;

struct LossCase {
  std::int64_t n, k;
  std::int64_t cap = 0;  // EmulatedLaunch's grid cap (0: the library's)
};

// (rows, classes): CIFAR-10's head; K above the 512-thread row block (threads loop); K = 1; a
// K that is not a warp multiple; more rows than a capped grid of row blocks (blocks loop over
// rows, as beyond 65536 rows on a GPU, and the backward's grid-stride loop wraps).
const std::vector<LossCase> kLossCases = {{64, 10}, {6, 1000}, {5, 1}, {19, 33}, {150, 10, 3}};

// The mean loss and probs from the emulated kernels, launched as loss.cu launches them.
double emulated_forward(const EmulatedLaunch& launch, const LossCase& c, const float* logits,
                        const std::int32_t* labels, const float* targets, float* probs) {
  std::vector<double> workspace(emulated::loss_workspace_doubles(c.n),
                                std::numeric_limits<double>::quiet_NaN());
  const double* total = emulated::queue_softmax_cross_entropy_forward(
      launch, c.n, c.k, logits, labels, targets, probs, workspace.data());
  return *total / static_cast<double>(c.n);
}

void check_loss_parity(const LossCase& c, bool soft, std::uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << c.n << "x" << c.k << (soft ? ", soft targets" : ", labels")
                                    << ", grid cap " << c.cap);
  auto logits = test::random_floats(c.n * c.k, seed, -8.f, 8.f);
  // A confidently wrong row with huge logits: log-sum-exp must neither overflow nor give -inf.
  for (std::int64_t j = 0; j < c.k; ++j) logits[j] = j == 0 ? 80.f : -80.f;
  auto labels = test::random_ints(c.n, seed + 1, 0, static_cast<std::int32_t>(c.k));
  if (c.k > 1) labels[0] = 1;
  const auto targets = random_target_rows(c.n, c.k, seed + 2);
  const std::int32_t* lab = soft ? nullptr : labels.data();
  const float* tgt = soft ? targets.data() : nullptr;

  std::vector<float> probs(c.n * c.k, kSentinelA), got_probs(c.n * c.k, kSentinelB);
  const double loss =
      cpu::softmax_cross_entropy_forward_reference(c.n, c.k, logits.data(), lab, tgt, probs.data());
  const EmulatedLaunch launch(c.cap);
  const double got_loss = emulated_forward(launch, c, logits.data(), lab, tgt, got_probs.data());
  EXPECT_NEAR(got_loss, loss, kLossTol * std::max(1.0, std::abs(loss)));
  EXPECT_TRUE(std::isfinite(got_loss));
  test::expect_close(probs, got_probs, kProbRelTol, 1e-37, "softmax probs");
  const auto rows = launch.shapes_of(emulated::softmax_cross_entropy_forward_kernel);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].grid.x, std::min<std::int64_t>(c.n, c.cap > 0 ? c.cap : 65536));
  EXPECT_EQ(rows[0].block.x, std::clamp<std::int64_t>((c.k + 31) / 32 * 32, 32, 512));
  ASSERT_EQ(launch.shapes_of(emulated::sum_row_losses_kernel).size(), 1u);

  // Backward from the CPU's probs on both sides, so it is compared on its own.
  const float scale = 0.7f / static_cast<float>(c.n);
  std::vector<float> glogits(c.n * c.k, kSentinelA), got(c.n * c.k, kSentinelB);
  cpu::softmax_cross_entropy_backward_reference(c.n, c.k, probs.data(), lab, tgt, scale,
                                                glogits.data());
  emulated::queue_softmax_cross_entropy_backward(launch, c.n, c.k, probs.data(), lab, tgt, scale,
                                                 got.data());
  test::expect_bitwise_equal(glogits, got, "softmax cross-entropy backward");
  EXPECT_TRUE(launch.launched(emulated::softmax_cross_entropy_backward_kernel));
}

TEST(LossEmulated, SoftmaxCrossEntropyWithLabels) {
  std::uint64_t seed = 100;
  for (const LossCase& c : kLossCases) check_loss_parity(c, /*soft=*/false, seed += 3);
}

TEST(LossEmulated, SoftmaxCrossEntropyWithSoftTargets) {
  std::uint64_t seed = 200;
  for (const LossCase& c : kLossCases) check_loss_parity(c, /*soft=*/true, seed += 3);
}

TEST(LossEmulated, ForwardLossIsDeterministic) {
  const LossCase c{67, 10, 5};
  const auto logits = test::random_floats(c.n * c.k, 300, -5.f, 5.f);
  const auto labels = test::random_ints(c.n, 301, 0, c.k);
  std::vector<float> probs(c.n * c.k, kSentinelB);
  const EmulatedLaunch launch(c.cap);
  const double first =
      emulated_forward(launch, c, logits.data(), labels.data(), nullptr, probs.data());
  EXPECT_EQ(emulated_forward(launch, c, logits.data(), labels.data(), nullptr, probs.data()),
            first);
}

// More rows than the loss sum's 1024 threads: they loop over the row losses.
TEST(LossEmulated, ManyRowsLossSumLoops) {
  const LossCase c{1100, 3, 64};
  const auto logits = test::random_floats(c.n * c.k, 310, -5.f, 5.f);
  const auto labels = test::random_ints(c.n, 311, 0, c.k);
  std::vector<float> probs(c.n * c.k, kSentinelA), got_probs(c.n * c.k, kSentinelB);
  const double loss = cpu::softmax_cross_entropy_forward_reference(
      c.n, c.k, logits.data(), labels.data(), static_cast<const float*>(nullptr), probs.data());
  const double got = emulated_forward(EmulatedLaunch(c.cap), c, logits.data(), labels.data(),
                                      nullptr, got_probs.data());
  EXPECT_NEAR(got, loss, kLossTol * std::max(1.0, std::abs(loss)));
  test::expect_close(probs, got_probs, kProbRelTol, 1e-37, "softmax probs");
}

// The CPU's count: std::max_element's first maximum (NaNs never win, but one in column 0 is never
// beaten).
std::int64_t cpu_count_correct(std::int64_t n, std::int64_t k, const std::vector<float>& logits,
                               const std::vector<std::int32_t>& labels) {
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * k;
    correct += (std::max_element(row, row + k) - row) == labels[i];
  }
  return correct;
}

TEST(LossEmulated, CountCorrectMatchesFirstMaximumAndAccumulates) {
  for (const LossCase& c : kLossCases) {
    SCOPED_TRACE(::testing::Message() << c.n << "x" << c.k << ", grid cap " << c.cap);
    // Logits from {0, 1, 2}: most rows hold ties, which must go to the first maximum.
    const auto levels = test::random_ints(c.n * c.k, 400 + c.k, 0, 3);
    std::vector<float> logits(levels.begin(), levels.end());
    if (c.k > 2) {
      logits[0] = std::numeric_limits<float>::quiet_NaN();        // row 0: a NaN in column 0
      logits[c.k + 1] = std::numeric_limits<float>::quiet_NaN();  // row 1: a NaN elsewhere
    }
    // Labels that hit often: the row's first maximum where i % 3 == 0, else random.
    auto labels = test::random_ints(c.n, 500 + c.k, 0, static_cast<std::int32_t>(c.k));
    for (std::int64_t i = 0; i < c.n; i += 3) {
      const float* row = logits.data() + i * c.k;
      labels[i] = static_cast<std::int32_t>(std::max_element(row, row + c.k) - row);
    }
    const std::int64_t expected = cpu_count_correct(c.n, c.k, logits, labels);
    std::int64_t correct = 5;  // count_correct adds to what is there
    const EmulatedLaunch launch(c.cap);
    emulated::queue_count_correct(launch, c.n, c.k, logits.data(), labels.data(), &correct);
    EXPECT_EQ(correct, 5 + expected);
    emulated::queue_count_correct(launch, c.n, c.k, logits.data(), labels.data(), &correct);
    EXPECT_EQ(correct, 5 + 2 * expected);
    EXPECT_EQ(launch.shapes_of(emulated::count_correct_kernel).size(), 2u);
  }
}

// ---------------------------------------------------------------------------------------------
// Optimisers

constexpr std::int64_t kSmallCap = 3;
constexpr std::int64_t kN = 2 * kSmallCap * 256 + 301;  // a capped grid-stride loop wraps twice

// Keras-style Adam scalars for step t.
AdamScalars adam_scalars(int t, double lr, double decay) {
  const double b1 = 0.9, b2 = 0.999;
  return AdamScalars{b1, b2, lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)), 1e-7,
                     decay};
}

struct HostAdamState {
  std::vector<float> m, v, param;
};

HostAdamState random_adam_state(std::int64_t n, std::uint64_t seed) {
  return HostAdamState{test::random_floats(n, seed, -0.1f, 0.1f),
                       test::random_floats(n, seed + 1, 0.f, 0.01f),
                       test::random_floats(n, seed + 2)};
}

TEST(OptimEmulated, AdamUpdateBitwiseEqual) {
  HostAdamState s = random_adam_state(kN, 600), got = s;
  const EmulatedLaunch launch(kSmallCap);
  for (int t = 1; t <= 3; ++t) {
    const auto grad = test::random_floats(kN, 610 + t);
    const AdamScalars sc = adam_scalars(t, 1e-2, t == 2 ? 1e-3 : 0.0);
    cpu::adam_update_reference(kN, sc, grad.data(), s.m.data(), s.v.data(), s.param.data());
    emulated::queue_adam_update(launch, kN, sc, grad.data(), got.m.data(), got.v.data(),
                                got.param.data());
  }
  test::expect_bitwise_equal(s.m, got.m, "adam m");
  test::expect_bitwise_equal(s.v, got.v, "adam v");
  test::expect_bitwise_equal(s.param, got.param, "adam param");
  EXPECT_EQ(launch.shapes_of(emulated::adam_update_kernel).size(), 3u);
}

TEST(OptimEmulated, SgdUpdateBitwiseEqual) {
  for (const SgdScalars sc :
       {SgdScalars{0.05, 0.0, 0.0, false}, SgdScalars{0.05, 0.9, 0.0, false},
        SgdScalars{0.05, 0.9, 1e-3, true}, SgdScalars{0.1, 0.0, 1e-2, false}}) {
    SCOPED_TRACE(::testing::Message() << "lr " << sc.lr << ", momentum " << sc.momentum
                                      << ", decay " << sc.decay << ", nesterov " << sc.nesterov);
    const bool with_buffer = sc.momentum != 0.0;
    std::vector<float> param = test::random_floats(kN, 700), buf = test::random_floats(kN, 701);
    std::vector<float> got_param = param, got_buf = buf;
    const EmulatedLaunch launch(kSmallCap);
    for (int step = 0; step < 2; ++step) {
      const auto grad = test::random_floats(kN, 710 + step);
      cpu::sgd_update_reference(kN, sc, grad.data(), with_buffer ? buf.data() : nullptr,
                                param.data());
      emulated::queue_sgd_update(launch, kN, sc, grad.data(),
                                 with_buffer ? got_buf.data() : nullptr, got_param.data());
    }
    test::expect_bitwise_equal(param, got_param, "sgd param");
    test::expect_bitwise_equal(buf, got_buf, "sgd buffer (untouched without momentum)");
    EXPECT_EQ(launch.shapes_of(emulated::sgd_update_kernel).size(), 2u);
  }
}

// Several tensors of odd sizes (one element; around the 16384-element chunk; an empty one in the
// middle) updated in one launch equal per-tensor CPU updates. Step 3 passes a different table
// (reordered, one tensor left out). The grid is capped below the 17 chunks, so blocks loop.
TEST(OptimEmulated, AdamUpdateMultiEqualsPerTensorUpdates) {
  const std::vector<std::int64_t> sizes = {1, 31, 16384, 16385, 0, 100003, 7, 3 * 16384 + 5};
  std::vector<HostAdamState> host, got;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    host.push_back(random_adam_state(sizes[i], 800 + 10 * i));
    got.push_back(host.back());
  }
  const EmulatedLaunch launch(5);
  for (int t = 1; t <= 3; ++t) {
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < sizes.size(); ++i)
      order.push_back(t < 3 ? i : sizes.size() - 1 - i);
    if (t == 3) order.erase(std::find(order.begin(), order.end(), std::size_t{1}));
    const AdamScalars sc = adam_scalars(t, 1e-2, t == 2 ? 1e-3 : 0.0);
    std::vector<std::vector<float>> grads;
    std::vector<cuda::AdamTensor> tensors;
    for (const std::size_t i : order) {
      grads.push_back(test::random_floats(sizes[i], 900 + 10 * i + t));
      cpu::adam_update_reference(sizes[i], sc, grads.back().data(), host[i].m.data(),
                                 host[i].v.data(), host[i].param.data());
      tensors.push_back(cuda::AdamTensor{sizes[i], grads.back().data(), got[i].m.data(),
                                         got[i].v.data(), got[i].param.data()});
    }
    std::int64_t chunks = 0;
    const auto table = emulated::make_adam_table(
        tensors.data(), static_cast<std::int64_t>(tensors.size()), &chunks);
    EXPECT_EQ(table.size(), tensors.size() - 1) << "the empty tensor owns no chunk";
    EXPECT_EQ(chunks, t < 3 ? 17 : 16);
    emulated::queue_adam_update_multi(launch, table.data(), static_cast<int>(table.size()), chunks,
                                      sc);
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "tensor " << i << " of " << sizes[i] << " elements");
    test::expect_bitwise_equal(host[i].m, got[i].m, "adam_update_multi m");
    test::expect_bitwise_equal(host[i].v, got[i].v, "adam_update_multi v");
    test::expect_bitwise_equal(host[i].param, got[i].param, "adam_update_multi param");
  }
  const auto shapes = launch.shapes_of(emulated::adam_update_multi_kernel);
  ASSERT_EQ(shapes.size(), 3u);
  EXPECT_EQ(shapes[0].grid.x, 5u);
}

}  // namespace
}  // namespace kiln::kernels
