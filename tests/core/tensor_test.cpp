#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/functions.h"
#include "core/random.h"
#include "kernels/device_memory.h"
#include "tests/support/cuda_skip.h"

namespace kiln {
namespace {

TEST(Shape, NumelRankAndNegativeIndex) {
  const Shape s{64, 3, 32, 32};
  EXPECT_EQ(s.rank(), 4u);
  EXPECT_EQ(s.numel(), 64 * 3 * 32 * 32);
  EXPECT_EQ(s[-1], 32);
  EXPECT_EQ(s[1], 3);
  EXPECT_EQ(s.str(), "[64,3,32,32]");
  EXPECT_EQ(Shape{}.numel(), 1);  // a scalar has one element
  EXPECT_THROW(s[4], Error);
  EXPECT_THROW(Shape({2, -3}), Error);
}

TEST(Tensor, FactoriesFillEveryElement) {
  const Tensor z = Tensor::zeros({2, 3});
  const Tensor o = Tensor::ones({2, 3}, DType::Float64);
  const Tensor f = Tensor::full({4}, 2.5);
  for (double v : z.to_double_vector()) EXPECT_EQ(v, 0.0);
  for (double v : o.to_double_vector()) EXPECT_EQ(v, 1.0);
  for (double v : f.to_double_vector()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(o.dtype(), DType::Float64);
  EXPECT_EQ(z.device(), Device::CPU);
}

TEST(Tensor, FromVectorRoundTripsAndChecksCount) {
  const std::vector<float> v{1, 2, 3, 4, 5, 6};
  const Tensor t = Tensor::from_vector(Shape{2, 3}, v);
  EXPECT_EQ(t.to_vector<float>(), v);
  EXPECT_THROW(Tensor::from_vector(Shape{4}, v), Error);
}

TEST(Tensor, SeededRandomFactoriesAreRepeatableAndInRange) {
  Generator a(42), b(42), c(43);
  const auto x = Tensor::uniform({1000}, -0.5, 0.5, a).to_double_vector();
  const auto y = Tensor::uniform({1000}, -0.5, 0.5, b).to_double_vector();
  const auto z = Tensor::uniform({1000}, -0.5, 0.5, c).to_double_vector();
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  double mean = 0;
  for (double v : x) {
    EXPECT_GE(v, -0.5);
    EXPECT_LT(v, 0.5);
    mean += v / 1000;
  }
  EXPECT_NEAR(mean, 0.0, 0.05);  // sd of the mean of 1000 U(-.5,.5) is 0.009
  Generator g(1);
  const auto n = Tensor::normal({20000}, 3.0, 2.0, g, DType::Float64).to_double_vector();
  double m = 0, var = 0;
  for (double v : n) m += v / n.size();
  for (double v : n) var += (v - m) * (v - m) / n.size();
  EXPECT_NEAR(m, 3.0, 0.06);   // 4+ standard errors (2 / sqrt(20000) = 0.014)
  EXPECT_NEAR(var, 4.0, 0.2);  // sd of the variance estimate is about 0.04
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t = Tensor::zeros({3});
  EXPECT_NO_THROW(t.data<float>());
  EXPECT_THROW(t.data<double>(), Error);
}

TEST(Tensor, CopiesDetachAndClone) {
  Tensor a = Tensor::from_vector(Shape{3}, std::vector<float>{1, 2, 3});
  Tensor alias = a;          // same data
  Tensor copy = a.clone();   // new data
  Tensor view = a.detach();  // same data, no history
  a.data<float>()[0] = 9;
  EXPECT_EQ(alias.to_vector<float>()[0], 9);
  EXPECT_EQ(view.to_vector<float>()[0], 9);
  EXPECT_EQ(copy.to_vector<float>()[0], 1);
}

// The version stamp that oneDNN's weight cache trusts: every writable accessor changes it, no
// read-only one does, and views of one storage share it.
TEST(Tensor, VersionChangesOnEveryWritableAccessOnly) {
  Tensor t = Tensor::zeros({3});
  const Tensor& ro = t;
  const std::uint64_t v0 = t.version();
  (void)ro.data<float>();
  (void)ro.device_data<float>();
  (void)ro.raw_data();
  (void)ro.to_vector<float>();
  EXPECT_EQ(t.version(), v0) << "a read changed the version";
  std::uint64_t last = v0;
  auto changed = [&] {
    const bool moved = t.version() != last;
    last = t.version();
    return moved;
  };
  t.data<float>()[0] = 1;
  EXPECT_TRUE(changed()) << "data()";
  t.device_data<float>()[1] = 2;
  EXPECT_TRUE(changed()) << "device_data()";
  static_cast<float*>(t.raw_data())[2] = 3;
  EXPECT_TRUE(changed()) << "raw_data()";
  t.fill(4);
  EXPECT_TRUE(changed()) << "fill()";
  t.copy_from(Tensor::ones({3}));
  EXPECT_TRUE(changed()) << "copy_from()";
  Tensor view = t.detach();
  EXPECT_EQ(view.version(), t.version());
  view.data<float>()[0] = 5;  // a write through a view is a write to t
  EXPECT_TRUE(changed()) << "a view's data()";
  EXPECT_NE(t.clone().version(), t.version()) << "a clone is a new storage";
}

TEST(Tensor, DtypeConversionAndCopyFrom) {
  const Tensor a = Tensor::from_vector(Shape{2}, std::vector<float>{1.5f, -2.f});
  const Tensor d = a.to(DType::Float64);
  EXPECT_EQ(d.dtype(), DType::Float64);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1.5, -2.0}));
  Tensor dst = Tensor::zeros({2});
  dst.copy_from(d);
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{1.5f, -2.f}));
  Tensor wrong = Tensor::zeros({3});
  EXPECT_THROW(wrong.copy_from(a), Error);
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_EQ(Tensor::scalar(4.0).item(), 4.0);
  EXPECT_THROW(Tensor::zeros({2}).item(), Error);
}

TEST(Tensor, OnlyLeavesCanRequireGrad) {
  Tensor x = Tensor::ones({2});
  x.set_requires_grad(true);
  Tensor y = scale(x, 2.0);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_THROW(y.set_requires_grad(false), Error);
  Tensor labels = Tensor::zeros({2}, DType::Int32);
  EXPECT_THROW(labels.set_requires_grad(true), Error);
}

TEST(Tensor, CudaTensorsFailLoudlyWithoutADevice) {
  KILN_SKIP_WITH_CUDA("see tests/cuda");
  try {
    Tensor::zeros({4}, DType::Float32, Device::CUDA);
    FAIL() << "allocating on cuda without a device must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
