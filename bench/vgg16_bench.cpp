// VGG16 on the CPU at 32x32: images/s of the base's forward and of a whole training step
// (forward, softmax cross-entropy, backward, Adam) of base + head, fully trainable and with the
// base frozen. bench/peer/torch_vgg16.py measures the same in PyTorch; scripts/bench-cpu runs both
// and prints the medians side by side.
//
//   build/bench/vgg16_cpu_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "core/autograd.h"
#include "core/functions.h"
#include "layers/vgg16.h"
#include "optim/adam.h"

namespace kiln {
namespace {

constexpr std::int64_t kImageSize = 32;

struct Batch {
  Tensor images;  // (N, 3, 32, 32)
  Tensor labels;  // (N) int32
};

Batch random_batch(std::int64_t n) {
  Generator gen(1);
  Batch b{Tensor::uniform({n, 3, kImageSize, kImageSize}, -120, 130, gen), Tensor()};
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (auto& l : labels) l = static_cast<std::int32_t>(gen.next_u64() % 10);
  b.labels = Tensor::from_vector(Shape{n}, labels);
  return b;
}

void set_images_per_second(benchmark::State& state, std::int64_t batch) {
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Vgg16BaseForward(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Generator gen(0);
  auto base = vgg16_base(gen);
  base->eval();
  const Batch batch = random_batch(n);
  NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(base->forward(batch.images));
  set_images_per_second(state, n);
}

void train_step_benchmark(benchmark::State& state, bool frozen_base) {
  const std::int64_t n = state.range(0);
  Generator gen(0);
  auto model = vgg16_classifier(kImageSize, HeadOptions{}, gen);
  if (frozen_base) model->layer("vgg16")->set_trainable(false);
  Adam adam(model->trainable_parameters(), AdamOptions{1e-4});
  const Batch batch = random_batch(n);
  for (auto _ : state) {
    adam.zero_grad();
    Tensor loss = softmax_cross_entropy(model->forward(batch.images), batch.labels);
    loss.backward();
    adam.step();
  }
  set_images_per_second(state, n);
}

void BM_Vgg16TrainStep(benchmark::State& state) { train_step_benchmark(state, false); }
void BM_Vgg16TrainStepFrozenBase(benchmark::State& state) { train_step_benchmark(state, true); }

BENCHMARK(BM_Vgg16BaseForward)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Vgg16TrainStep)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Vgg16TrainStepFrozenBase)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln

BENCHMARK_MAIN();
