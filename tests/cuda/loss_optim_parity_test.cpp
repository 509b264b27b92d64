// CUDA softmax cross-entropy, count_correct and the optimiser updates against their CPU twins.
// CPU outputs are pre-filled with kSentinelA, device outputs with kSentinelB.
//
// Tolerances:
// - Softmax probabilities: CUDA's expf is within 2 ulps, glibc's within 1, so each exp term may
//   differ by 3 ulps (3.6e-7 relative) and so may their double sum; a probability e / sum by about
//   twice that plus its final rounding. 2e-6 relative (16 ulps) bounds it with margin, while a
//   wrong max shift or normalisation errs by orders of magnitude more.
// - The loss: log(sum) inherits the sum's relative error as an absolute one (<= 4e-7), and the
//   mean over rows keeps that bound; the row losses' double sums differ only at 1e-16. 2e-6.
// - The backward, given the same probs: one subtraction and one multiply per element on both
//   devices: bitwise.
// - Adam and SGD: the same float operations in the same order on both devices; the CUDA kernels
//   spell them __f*_rn so nvcc cannot fuse a multiply-add, and Kiln's x86-64 CPU build has no FMA
//   to contract into; sqrt and division are IEEE on both. So bitwise (a CPU build with -mfma,
//   where GCC contracts C++ by default, would need about one float rounding of slack instead).
// - count_correct: integers, exact; ties go to the first maximum, as std::max_element picks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "base/error.h"
#include "kernels/device_memory.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
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

using test::kLossTol;
using test::kProbRelTol;
using test::random_target_rows;

struct LossCase {
  std::int64_t n, k;
};

// (rows, classes): CIFAR-10's head; K above the 512-thread row block (threads loop); K = 1; a
// K that is not a warp multiple; more rows than the 65536 row blocks (blocks loop over rows).
const std::vector<LossCase> kLossCases = {{64, 10}, {37, 1000}, {5, 1}, {19, 33}, {70001, 10}};

void check_loss_parity(const LossCase& c, bool soft, std::uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << c.n << "x" << c.k << (soft ? ", soft targets" : ", labels"));
  auto logits = test::random_floats(c.n * c.k, seed, -8.f, 8.f);
  // A confidently wrong row with huge logits: log-sum-exp must neither overflow nor give -inf.
  for (std::int64_t j = 0; j < c.k; ++j) logits[j] = j == 0 ? 80.f : -80.f;
  const auto labels = test::random_ints(c.n, seed + 1, 0, static_cast<std::int32_t>(c.k));
  std::vector<std::int32_t> wrong_labels = labels;
  if (c.k > 1) wrong_labels[0] = 1;
  const auto targets = random_target_rows(c.n, c.k, seed + 2);
  const std::int32_t* cpu_labels = soft ? nullptr : wrong_labels.data();
  const float* cpu_targets = soft ? targets.data() : nullptr;

  std::vector<float> probs(c.n * c.k, kSentinelA);
  const double loss = cpu::softmax_cross_entropy_forward_reference(
      c.n, c.k, logits.data(), cpu_labels, cpu_targets, probs.data());
  const DeviceVector<float> dlogits(logits), dtargets(targets);
  const DeviceVector<std::int32_t> dlabels(wrong_labels);
  const std::int32_t* gpu_labels = soft ? nullptr : dlabels.get();
  const float* gpu_targets = soft ? dtargets.get() : nullptr;
  DeviceVector<float> dprobs(c.n * c.k, kSentinelB);
  const double gpu_loss = cuda::softmax_cross_entropy_forward(c.n, c.k, dlogits.get(), gpu_labels,
                                                              gpu_targets, dprobs.get());
  EXPECT_NEAR(gpu_loss, loss, kLossTol * std::max(1.0, std::abs(loss)));
  EXPECT_TRUE(std::isfinite(gpu_loss));
  test::expect_close(probs, dprobs.download(), kProbRelTol, 1e-37, "softmax probs");

  // Backward from the CPU's probs on both devices, so it is compared on its own.
  const float scale = 0.7f / static_cast<float>(c.n);
  std::vector<float> glogits(c.n * c.k, kSentinelA);
  cpu::softmax_cross_entropy_backward_reference(c.n, c.k, probs.data(), cpu_labels, cpu_targets,
                                                scale, glogits.data());
  const DeviceVector<float> dcpu_probs(probs);
  DeviceVector<float> dglogits(c.n * c.k, kSentinelB);
  cuda::softmax_cross_entropy_backward(c.n, c.k, dcpu_probs.get(), gpu_labels, gpu_targets, scale,
                                       dglogits.get());
  test::expect_bitwise_equal(glogits, dglogits.download(), "softmax cross-entropy backward");
}

TEST(CudaLossParity, SoftmaxCrossEntropyWithLabels) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 100;
  for (const LossCase& c : kLossCases) check_loss_parity(c, /*soft=*/false, seed += 3);
}

TEST(CudaLossParity, SoftmaxCrossEntropyWithSoftTargets) {
  KILN_REQUIRE_CUDA();
  std::uint64_t seed = 200;
  for (const LossCase& c : kLossCases) check_loss_parity(c, /*soft=*/true, seed += 3);
}

TEST(CudaLossParity, ForwardLossIsDeterministicAndEmptyBatchIsZero) {
  KILN_REQUIRE_CUDA();
  const std::int64_t n = 4099, k = 10;
  const DeviceVector<float> dlogits(test::random_floats(n * k, 300, -5.f, 5.f));
  const DeviceVector<std::int32_t> dlabels(test::random_ints(n, 301, 0, k));
  DeviceVector<float> dprobs(n * k, kSentinelB);
  const double first = cuda::softmax_cross_entropy_forward(n, k, dlogits.get(), dlabels.get(),
                                                           nullptr, dprobs.get());
  for (int run = 0; run < 3; ++run)
    EXPECT_EQ(cuda::softmax_cross_entropy_forward(n, k, dlogits.get(), dlabels.get(), nullptr,
                                                  dprobs.get()),
              first);
  EXPECT_EQ(cuda::softmax_cross_entropy_forward(0, k, nullptr, dlabels.get(), nullptr, nullptr),
            0.0);
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

TEST(CudaLossParity, CountCorrectMatchesFirstMaximumAndAccumulates) {
  KILN_REQUIRE_CUDA();
  for (const LossCase& c : kLossCases) {
    SCOPED_TRACE(::testing::Message() << c.n << "x" << c.k);
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
    const DeviceVector<float> dlogits(logits);
    const DeviceVector<std::int32_t> dlabels(labels);
    DeviceVector<std::int64_t> dcorrect(1, 5);  // count_correct adds to what is there
    cuda::count_correct(c.n, c.k, dlogits.get(), dlabels.get(), dcorrect.get());
    EXPECT_EQ(dcorrect.download()[0], 5 + expected);
    cuda::count_correct(c.n, c.k, dlogits.get(), dlabels.get(), dcorrect.get());
    EXPECT_EQ(dcorrect.download()[0], 5 + 2 * expected);
  }
}

// ---------------------------------------------------------------------------------------------
// Optimisers

// Keras-style Adam scalars for step t.
kernels::AdamScalars adam_scalars(int t, double lr, double decay) {
  const double b1 = 0.9, b2 = 0.999;
  return kernels::AdamScalars{b1, b2, lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)),
                              1e-7, decay};
}

struct HostAdamState {
  std::vector<float> m, v, param;
};

HostAdamState random_adam_state(std::int64_t n, std::uint64_t seed) {
  return HostAdamState{test::random_floats(n, seed, -0.1f, 0.1f),
                       test::random_floats(n, seed + 1, 0.f, 0.01f),
                       test::random_floats(n, seed + 2)};
}

TEST(CudaOptimParity, AdamUpdateBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  const std::int64_t n = (1 << 20) + 4099;
  HostAdamState s = random_adam_state(n, 600);
  DeviceVector<float> dm(s.m), dv(s.v), dparam(s.param);
  for (int t = 1; t <= 3; ++t) {
    const auto grad = test::random_floats(n, 610 + t);
    const DeviceVector<float> dgrad(grad);
    const kernels::AdamScalars sc = adam_scalars(t, 1e-2, t == 2 ? 1e-3 : 0.0);
    cpu::adam_update_reference(n, sc, grad.data(), s.m.data(), s.v.data(), s.param.data());
    cuda::adam_update(n, sc, dgrad.get(), dm.get(), dv.get(), dparam.get());
  }
  test::expect_bitwise_equal(s.m, dm.download(), "adam m");
  test::expect_bitwise_equal(s.v, dv.download(), "adam v");
  test::expect_bitwise_equal(s.param, dparam.download(), "adam param");
}

TEST(CudaOptimParity, SgdUpdateBitwiseEqual) {
  KILN_REQUIRE_CUDA();
  const std::int64_t n = 300007;
  for (const kernels::SgdScalars sc :
       {kernels::SgdScalars{0.05, 0.0, 0.0, false}, kernels::SgdScalars{0.05, 0.9, 0.0, false},
        kernels::SgdScalars{0.05, 0.9, 1e-3, true}, kernels::SgdScalars{0.1, 0.0, 1e-2, false}}) {
    SCOPED_TRACE(::testing::Message() << "lr " << sc.lr << ", momentum " << sc.momentum
                                      << ", decay " << sc.decay << ", nesterov " << sc.nesterov);
    const bool with_buffer = sc.momentum != 0.0;
    std::vector<float> param = test::random_floats(n, 700), buf = test::random_floats(n, 701);
    DeviceVector<float> dparam(param), dbuf(buf);
    for (int step = 0; step < 2; ++step) {
      const auto grad = test::random_floats(n, 710 + step);
      const DeviceVector<float> dgrad(grad);
      cpu::sgd_update_reference(n, sc, grad.data(), with_buffer ? buf.data() : nullptr,
                                param.data());
      cuda::sgd_update(n, sc, dgrad.get(), with_buffer ? dbuf.get() : nullptr, dparam.get());
    }
    test::expect_bitwise_equal(param, dparam.download(), "sgd param");
    test::expect_bitwise_equal(buf, dbuf.download(), "sgd buffer (untouched without momentum)");
  }
}

// Several tensors of odd sizes (one element; around the 16384-element chunk; an empty one in the
// middle) updated in one launch equal per-tensor CPU updates. Step 2 reuses the cached device
// table; step 3 passes a different table (reordered, one tensor left out), which must be uploaded.
TEST(CudaOptimParity, AdamUpdateMultiEqualsPerTensorUpdates) {
  KILN_REQUIRE_CUDA();
  const std::vector<std::int64_t> sizes = {1, 31, 16384, 16385, 0, 100003, 7, 3 * 16384 + 5};
  std::vector<HostAdamState> host;
  std::vector<DeviceVector<float>> dm, dv, dparam;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    host.push_back(random_adam_state(sizes[i], 800 + 10 * i));
    dm.emplace_back(host[i].m);
    dv.emplace_back(host[i].v);
    dparam.emplace_back(host[i].param);
  }
  for (int t = 1; t <= 3; ++t) {
    // Step 3 updates tensors in reverse order and skips tensor 1.
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < sizes.size(); ++i)
      order.push_back(t < 3 ? i : sizes.size() - 1 - i);
    if (t == 3) order.erase(std::find(order.begin(), order.end(), std::size_t{1}));
    const kernels::AdamScalars sc = adam_scalars(t, 1e-2, t == 2 ? 1e-3 : 0.0);
    std::vector<DeviceVector<float>> dgrads;
    std::vector<cuda::AdamTensor> table;
    for (const std::size_t i : order) {
      const auto grad = test::random_floats(sizes[i], 900 + 10 * i + t);
      cpu::adam_update_reference(sizes[i], sc, grad.data(), host[i].m.data(), host[i].v.data(),
                                 host[i].param.data());
      dgrads.emplace_back(grad);
      table.push_back(cuda::AdamTensor{sizes[i], dgrads.back().get(), dm[i].get(), dv[i].get(),
                                       dparam[i].get()});
    }
    cuda::adam_update_multi(table.data(), static_cast<std::int64_t>(table.size()), sc);
    // NOTE: dgrads are freed here, and step t + 1 may get the same addresses back from the caching
    // allocator: the table cache must compare contents, which is what makes that safe.
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "tensor " << i << " of " << sizes[i] << " elements");
    test::expect_bitwise_equal(host[i].m, dm[i].download(), "adam_update_multi m");
    test::expect_bitwise_equal(host[i].v, dv[i].download(), "adam_update_multi v");
    test::expect_bitwise_equal(host[i].param, dparam[i].download(), "adam_update_multi param");
  }
}

}  // namespace
}  // namespace kiln
