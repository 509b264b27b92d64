// Forward values of the differentiable functions, their errors, and the two CPU engines agreeing
// when reached through the public functions (the kernel tests compare the kernels directly).
#include "core/functions.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "kernels/conv2d.h"

namespace kiln {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Functions, Conv2dOfOnesCountsTheWindow) {
  // A 3x3 kernel of ones over ones with padding 1 counts the in-image cells of each window:
  // 4 in corners, 6 on edges, 9 inside; times 2 channels, plus the bias 0.5.
  const Tensor x = Tensor::ones({1, 2, 4, 4});
  const Tensor w = Tensor::ones({1, 2, 3, 3});
  const Tensor b = Tensor::full({1}, 0.5);
  const auto y = conv2d(x, w, b, {1, 1, 1, 1}).to_vector<float>();
  ASSERT_EQ(y.size(), 16u);
  EXPECT_EQ(y[0], 8.5f);
  EXPECT_EQ(y[1], 12.5f);
  EXPECT_EQ(y[5], 18.5f);
}

TEST(Functions, LinearMatchesAHandProduct) {
  const Tensor x = Tensor::from_vector(Shape{1, 2}, std::vector<float>{1, 2});
  const Tensor w = Tensor::from_vector(Shape{2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  const Tensor b = Tensor::from_vector(Shape{3}, std::vector<float>{0.5, 0, -1});
  EXPECT_EQ(linear(x, w, b).to_vector<float>(), (std::vector<float>{9.5, 12, 14}));
}

TEST(Functions, SoftmaxCrossEntropyOfUniformLogitsIsLogK) {
  const Tensor logits = Tensor::zeros({3, 10});
  const Tensor labels = Tensor::from_vector(Shape{3}, std::vector<std::int32_t>{0, 5, 9});
  EXPECT_NEAR(softmax_cross_entropy(logits, labels).item(), std::log(10.0), 1e-6);
}

TEST(Functions, DropoutIsIdentityOutsideTrainingAndScalesInside) {
  Generator gen(3);
  const Tensor x = Tensor::ones({1000});
  EXPECT_EQ(dropout(x, 0.5, false, gen).to_vector<float>(), x.to_vector<float>());
  const auto y = dropout(x, 0.5, true, gen).to_vector<float>();
  int kept = 0;
  for (float v : y) {
    EXPECT_TRUE(v == 0.f || v == 2.f) << v;
    kept += v != 0.f;
  }
  EXPECT_NEAR(kept, 500, 80);  // binomial sd is 16: five of them
}

TEST(Functions, ShapeErrorsNameTheOpAndBothShapes) {
  const Tensor x = Tensor::zeros({2, 4, 8, 8});
  const Tensor w = Tensor::zeros({16, 3, 3, 3});
  const std::string conv = message_of([&] { conv2d(x, w, Tensor()); });
  EXPECT_NE(conv.find("conv2d"), std::string::npos) << conv;
  EXPECT_NE(conv.find("[2,4,8,8]"), std::string::npos) << conv;
  EXPECT_NE(conv.find("[16,3,3,3]"), std::string::npos) << conv;

  const std::string lin = message_of([&] {
    linear(Tensor::zeros({2, 5}), Tensor::zeros({4, 3}), Tensor());
  });
  EXPECT_NE(lin.find("linear"), std::string::npos) << lin;
  EXPECT_NE(lin.find("[2,5]"), std::string::npos) << lin;
  EXPECT_NE(lin.find("[4,3]"), std::string::npos) << lin;

  const std::string addm = message_of([&] { add(Tensor::zeros({2}), Tensor::zeros({3})); });
  EXPECT_NE(addm.find("add"), std::string::npos) << addm;
  EXPECT_NE(addm.find("[2]"), std::string::npos) << addm;
  EXPECT_NE(addm.find("[3]"), std::string::npos) << addm;

  const std::string dt =
      message_of([&] { add(Tensor::zeros({2}), Tensor::zeros({2}, DType::Float64)); });
  EXPECT_NE(dt.find("float64"), std::string::npos) << dt;

  const std::string label = message_of([&] {
    softmax_cross_entropy(Tensor::zeros({2, 3}),
                          Tensor::from_vector(Shape{2}, std::vector<std::int32_t>{0, 3}));
  });
  EXPECT_NE(label.find("class 3"), std::string::npos) << label;

  EXPECT_THROW(max_pool2d(Tensor::zeros({1, 1, 1, 1})), Error);  // window larger than input
  EXPECT_THROW(reshape(Tensor::zeros({6}), {4, -1}), Error);
  EXPECT_THROW(dropout(x, 1.0, true, *std::make_unique<Generator>(1)), Error);
}

// A small network's loss and every gradient, computed on both CPU engines from the same data.
// fused: the ReLU as Conv2dOptions::relu instead of a relu() after the convolution.
std::vector<std::vector<double>> run_network(CpuEngine engine, bool fused = false) {
  const CpuEngine saved = cpu_engine();
  set_cpu_engine(engine);
  Generator gen(21);
  Tensor x = Tensor::uniform({4, 3, 8, 8}, -1, 1, gen);
  Tensor w1 = Tensor::uniform({8, 3, 3, 3}, -0.3, 0.3, gen),
         b1 = Tensor::uniform({8}, -.1, .1, gen);
  Tensor w2 = Tensor::uniform({8 * 4 * 4, 5}, -0.2, 0.2, gen), b2 = Tensor::zeros({5});
  for (Tensor* t : {&x, &w1, &b1, &w2, &b2}) t->set_requires_grad(true);
  const Tensor labels = Tensor::from_vector(Shape{4}, std::vector<std::int32_t>{0, 1, 2, 4});
  Generator drop(5);
  Tensor h = fused ? max_pool2d(conv2d(x, w1, b1, {1, 1, 1, 1, true}))
                   : max_pool2d(relu(conv2d(x, w1, b1, {1, 1, 1, 1})));
  Tensor logits = linear(dropout(flatten(h), 0.25, true, drop), w2, b2);
  Tensor loss = softmax_cross_entropy(logits, labels);
  loss.backward();
  set_cpu_engine(saved);
  std::vector<std::vector<double>> out{{loss.item()}};
  for (Tensor* t : {&x, &w1, &b1, &w2, &b2}) out.push_back(t->grad().to_double_vector());
  return out;
}

void expect_same_network_results(const std::vector<std::vector<double>>& fast,
                                 const std::vector<std::vector<double>>& ref) {
  ASSERT_EQ(fast.size(), ref.size());
  for (std::size_t t = 0; t < fast.size(); ++t) {
    ASSERT_EQ(fast[t].size(), ref[t].size());
    double max_abs = 0;
    for (double v : ref[t]) max_abs = std::max(max_abs, std::abs(v));
    for (std::size_t i = 0; i < fast[t].size(); ++i) {
      // float32 sums in different orders: errors of a few ulps of the largest value per sum.
      EXPECT_NEAR(fast[t][i], ref[t][i], 1e-4 * std::max(max_abs, 1e-3))
          << "tensor " << t << " element " << i;
    }
  }
}

TEST(Functions, FastAndReferenceEnginesAgreeThroughANetwork) {
  expect_same_network_results(run_network(CpuEngine::Fast), run_network(CpuEngine::Reference));
}

// conv2d with the ReLU inside, on either engine, against relu(conv2d(...)) on the reference.
TEST(Functions, Conv2dWithReluMatchesReluOfConv2dOnBothEngines) {
  const auto ref = run_network(CpuEngine::Reference);
  expect_same_network_results(run_network(CpuEngine::Fast, true), ref);
  expect_same_network_results(run_network(CpuEngine::Reference, true), ref);
}

// NaN in, NaN out, as relu() does: a diverging layer or a weights file holding NaN must show in
// the output, not vanish into ReLU's zeros (oneDNN's ReLU post-op would do that).
TEST(Functions, Conv2dWithReluKeepsNaN) {
  for (CpuEngine engine : {CpuEngine::Fast, CpuEngine::Reference}) {
    const CpuEngine saved = cpu_engine();
    set_cpu_engine(engine);
    Tensor w = Tensor::full({2, 1, 3, 3}, -1.0);  // every output negative, so ReLU zeroes it...
    w.data<float>()[4] = std::nanf("");           // ...but the centre tap of filter 0 is NaN
    const auto y =
        conv2d(Tensor::ones({1, 1, 4, 4}), w, Tensor(), {1, 1, 1, 1, true}).to_vector<float>();
    set_cpu_engine(saved);
    for (std::size_t i = 0; i < 16; ++i) EXPECT_TRUE(std::isnan(y[i])) << "filter 0, pixel " << i;
    for (std::size_t i = 16; i < 32; ++i) EXPECT_EQ(y[i], 0.0f) << "filter 1, pixel " << i;
  }
}

// oneDNN keeps each weight's reordered copy while the weight tensor's version holds. A write
// through the tensor (an optimiser step, a weights file loaded into it) must reach the next
// forward and backward; repeated calls with unchanged weights reorder nothing.
TEST(Functions, Conv2dSeesEveryWeightUpdateAndReordersUnchangedWeightsOnce) {
  Generator gen(8);
  Tensor x = Tensor::uniform({2, 16, 8, 8}, -1, 1, gen);
  Tensor w = Tensor::uniform({16, 16, 3, 3}, -0.3, 0.3, gen);
  x.set_requires_grad(true);
  for (int step = 0; step < 3; ++step) {
    if (step > 0) {  // an in-place update, as Adam and SGD make
      float* p = w.data<float>();
      for (std::int64_t i = 0; i < w.numel(); ++i) p[i] = 0.5f * p[i] + 0.01f * float(step);
    }
    std::vector<double> y[2], gx[2];
    for (int e = 0; e < 2; ++e) {
      const CpuEngine saved = cpu_engine();
      set_cpu_engine(e == 0 ? CpuEngine::Fast : CpuEngine::Reference);
      const kernels::cpu::OnednnCopyCacheStats before = kernels::cpu::onednn_copy_cache_stats();
      for (int call = 0; call < 2; ++call) {
        x.zero_grad();
        Tensor out = conv2d(x, w, Tensor(), {1, 1, 1, 1});
        sum(out).backward();
        y[e] = out.to_double_vector();
        gx[e] = x.grad().to_double_vector();
      }
      if (e == 0) {  // forward and backward-data: one reorder each on the first call, then none
        const auto after = kernels::cpu::onednn_copy_cache_stats();
        EXPECT_LE(after.misses - before.misses, 2) << "step " << step;
        EXPECT_GE(after.hits - before.hits, 2) << "step " << step;
      }
      set_cpu_engine(saved);
    }
    for (std::size_t i = 0; i < y[1].size(); ++i)
      ASSERT_NEAR(y[0][i], y[1][i], 1e-4) << "step " << step << ", y[" << i << "]";
    for (std::size_t i = 0; i < gx[1].size(); ++i)
      ASSERT_NEAR(gx[0][i], gx[1][i], 1e-4) << "step " << step << ", gx[" << i << "]";
  }
}

}  // namespace
}  // namespace kiln
