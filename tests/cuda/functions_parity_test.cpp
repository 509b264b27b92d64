// The public differentiable functions and a whole training loop on CUDA against the CPU: the
// dispatch wiring (pointers, shapes, which kernel runs) is what these tests check; the kernels'
// own parity tests live beside them.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/functions.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_memory.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"
#include "layers/vgg16.h"
#include "optim/adam.h"
#include "tests/support/cuda_skip.h"

namespace kiln {
namespace {

// FP32 on both sides, summed in different orders (cuDNN's algorithms, cuBLAS' tiling): a few
// ulps of the largest magnitude per reduction, which 1e-4 relative to the tensor's max covers.
// The math mode is pinned to FP32: TF32 would need ~1e-2.
void expect_close(const Tensor& cpu, const Tensor& gpu, const char* what, double rel = 1e-4) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  const auto a = cpu.to_double_vector(), b = gpu.to_double_vector();
  double scale = 1e-6;
  for (double v : a) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], rel * scale) << what << " element " << i;
}

Tensor leaf(const Shape& s, std::uint64_t seed, Device d) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(s, -1, 1, gen).to(d);
  t.set_requires_grad(true);
  return t;
}

// Runs `f` on leaves made on `d` from the same seeds; returns the output and the leaves' grads.
template <typename F>
std::vector<Tensor> run_on(Device d, const std::vector<Shape>& shapes, F f) {
  std::vector<Tensor> leaves;
  for (std::size_t i = 0; i < shapes.size(); ++i) leaves.push_back(leaf(shapes[i], 10 + i, d));
  Tensor y = f(leaves);
  Generator gen(77);
  const Tensor r = Tensor::uniform(y.shape(), -1, 1, gen).to(d);
  sum(mul(y, r)).backward();
  std::vector<Tensor> out{y.to(Device::CPU)};
  for (Tensor& l : leaves) out.push_back(l.grad().to(Device::CPU));
  return out;
}

template <typename F>
void expect_parity(const std::vector<Shape>& shapes, F f, const char* what) {
  kernels::cuda::set_math_mode(kernels::cuda::MathMode::FP32);
  const auto cpu = run_on(Device::CPU, shapes, f);
  const auto gpu = run_on(Device::CUDA, shapes, f);
  for (std::size_t i = 0; i < cpu.size(); ++i) expect_close(cpu[i], gpu[i], what);
}

TEST(CudaFunctions, ConvPoolLinearReluForwardAndBackward) {
  KILN_REQUIRE_CUDA();
  expect_parity(
      {{2, 3, 9, 9}, {8, 3, 3, 3}, {8}},
      [](auto& l) {
        return conv2d(l[0], l[1], l[2], {1, 1, 1, 1});
      },
      "conv2d");
  expect_parity(
      {{2, 3, 9, 9}, {8, 3, 3, 3}, {8}},
      [](auto& l) {
        return conv2d(l[0], l[1], l[2], {1, 1, 1, 1, true});
      },
      "conv2d with relu");
  expect_parity(
      {{2, 3, 9, 8}, {4, 3, 3, 2}},
      [](auto& l) {
        return conv2d(l[0], l[1], Tensor(), {2, 1, 1, 0});
      },
      "conv2d strided");
  expect_parity(
      {{2, 4, 8, 8}}, [](auto& l) { return max_pool2d(l[0]); }, "max_pool2d");
  expect_parity(
      {{2, 4, 7, 7}},
      [](auto& l) {
        return max_pool2d(l[0], {3, 3, 2, 2, 1, 1});
      },
      "max_pool2d overlapping");
  expect_parity(
      {{5, 7}, {7, 3}, {3}}, [](auto& l) { return linear(l[0], l[1], l[2]); }, "linear");
  expect_parity(
      {{3, 50}}, [](auto& l) { return relu(l[0]); }, "relu");
}

TEST(CudaFunctions, ElementwiseReductionsDropoutAndLoss) {
  KILN_REQUIRE_CUDA();
  expect_parity(
      {{4, 6}, {4, 6}}, [](auto& l) { return add(mul(l[0], l[1]), scale(l[0], 3)); },
      "add/mul/scale");
  expect_parity(
      {{4, 600}}, [](auto& l) { return scale(sum(l[0]), 1.0); }, "sum");
  expect_parity(
      {{8, 100}},
      [](auto& l) {
        Generator gen(5);  // the same mask on both devices: counter-based
        return dropout(l[0], 0.3, true, gen);
      },
      "dropout");
  const auto labels = Tensor::from_vector(Shape{6}, std::vector<std::int32_t>{0, 3, 9, 1, 1, 4});
  expect_parity(
      {{6, 10}}, [&](auto& l) { return softmax_cross_entropy(scale(l[0], 4.0), labels); },
      "softmax_cross_entropy");
}

TEST(CudaFunctions, MissingKernelsAndMixedDevicesFailLoudly) {
  KILN_REQUIRE_CUDA();
  const Tensor gpu = Tensor::ones({2}, DType::Float32, Device::CUDA);
  EXPECT_THROW(add(gpu, Tensor::ones({2})), Error);  // mixed devices: no silent copy
}

// A small network trained 4 Adam steps on each device from the same initial weights: the losses
// follow the same path within float tolerance.
TEST(CudaTraining, SmallNetworkLossesMatchTheCpu) {
  KILN_REQUIRE_CUDA();
  kernels::cuda::set_math_mode(kernels::cuda::MathMode::FP32);
  std::vector<double> losses[2];
  for (int d = 0; d < 2; ++d) {
    const Device device = d == 0 ? Device::CPU : Device::CUDA;
    Generator gen(3);
    Sequential net("net");
    net.add(std::make_shared<Conv2d>("conv", 3, 8, Conv2dConfig::same_relu(3), gen));
    net.add(std::make_shared<MaxPool2d>("pool"));
    net.add(std::make_shared<Flatten>("flatten", MapShape{8, 4, 4}));
    net.add(std::make_shared<Dense>("dense", 128, 5, Activation::None, gen));
    net.to(device);
    Adam adam(net.trainable_parameters(), AdamOptions{1e-2});
    Generator data(9);
    const Tensor x = Tensor::uniform({16, 3, 8, 8}, -1, 1, data).to(device);
    std::vector<std::int32_t> y(16);
    for (int i = 0; i < 16; ++i) y[i] = i % 5;
    const Tensor labels = Tensor::from_vector(Shape{16}, y).to(device);
    for (int step = 0; step < 4; ++step) {
      adam.zero_grad();
      Tensor loss = softmax_cross_entropy(net.forward(x), labels);
      losses[d].push_back(loss.item());
      loss.backward();
      adam.step();
    }
  }
  for (int step = 0; step < 4; ++step)
    EXPECT_NEAR(losses[0][step], losses[1][step], 1e-4 * (1 + std::abs(losses[0][step])))
        << "step " << step;
  EXPECT_LT(losses[1][3], losses[1][0]);  // and it learns
}

}  // namespace
}  // namespace kiln
