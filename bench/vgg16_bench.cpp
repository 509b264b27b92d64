// VGG16 end to end: images/s of the base's forward and of a whole training step (forward, softmax
// cross-entropy, backward, Adam) of base + head, fully trainable and with the base frozen.
//   - CPU: 32x32, batch 64 (the rows bench/results/cpu-vgg16-*.md compare over time);
//   - CUDA, when built with it and a device answers: 32x32 batch 64 and 256, 224x224 batch 16
//     (head built for the 7x7 map), each in FP32 and TF32 math mode. Every iteration ends with
//     kernels::cuda::synchronize(), so the wall time is the GPU's; two untimed steps first let
//     cuDNN and the Auto conv engine make their one-off choices.
// bench/peer/torch_vgg16.py measures the same rows in PyTorch; scripts/bench-e2e runs both and
// prints the medians side by side.
//
//   build/bench/vgg16_bench [--conv-engine=auto|cudnn|kiln] [Google Benchmark flags]
//
// Row names: BM_Vgg16{BaseForward,TrainStep,TrainStepFrozenBase}/<device>/<size>px/<batch>, device
// one of cpu, cuda_fp32, cuda_tf32 (then /real_time). scripts/bench-e2e parses them: keep in step.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/autograd.h"
#include "core/functions.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_info.h"
#include "kernels/device_memory.h"
#include "layers/vgg16.h"
#include "optim/adam.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;

// One row's setting: where it runs, in which math mode (CUDA only), and on what.
struct Config {
  Device device;
  cuda::MathMode mode;
  std::int64_t image_size;  // square images
  std::int64_t batch;

  std::string label() const {
    const std::string where =
        device == Device::CPU ? "cpu" : (mode == cuda::MathMode::TF32 ? "cuda_tf32" : "cuda_fp32");
    return where + "/" + std::to_string(image_size) + "px/" + std::to_string(batch);
  }
};

struct Batch {
  Tensor images;  // (N, 3, S, S), U(-120, 130) like VGG-preprocessed pixels
  Tensor labels;  // (N) int32
};

Batch random_batch(const Config& c) {
  Generator gen(1);
  Batch b{Tensor::uniform({c.batch, 3, c.image_size, c.image_size}, -120, 130, gen), Tensor()};
  std::vector<std::int32_t> labels(static_cast<std::size_t>(c.batch));
  for (auto& l : labels) l = static_cast<std::int32_t>(gen.next_u64() % 10);
  b.labels = Tensor::from_vector(Shape{c.batch}, labels);
  if (c.device != Device::CPU) {
    b.images = b.images.to(c.device);
    b.labels = b.labels.to(c.device);
  }
  return b;
}

// Makes the device's queued work part of the iteration's wall time; nothing to wait for on the CPU.
void finish_step(const Config& c) {
  if (c.device == Device::CUDA) cuda::synchronize();
}

// Untimed steps before a CUDA row: cuDNN's algorithm search and the Auto conv engine's timing run
// once per geometry, and the caching allocator fills. CPU rows stay as they always were (none), so
// their numbers compare with the older reports.
void warm_up(const Config& c, const std::function<void()>& step) {
  if (c.device != Device::CUDA) return;
  for (int i = 0; i < 2; ++i) step();
  finish_step(c);
}

void set_images_per_second(benchmark::State& state, std::int64_t batch) {
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void prepare_device(const Config& c) {
  if (c.device == Device::CUDA) cuda::set_math_mode(c.mode);
}

void base_forward_body(benchmark::State& state, const Config& c) {
  prepare_device(c);
  Generator gen(0);
  auto base = vgg16_base(gen);
  base->to(c.device);
  base->eval();
  const Batch batch = random_batch(c);
  NoGradGuard no_grad;
  warm_up(c, [&] { base->forward(batch.images); });
  for (auto _ : state) {
    benchmark::DoNotOptimize(base->forward(batch.images));
    finish_step(c);
  }
  set_images_per_second(state, c.batch);
}

void train_step_body(benchmark::State& state, const Config& c, bool frozen_base) {
  prepare_device(c);
  Generator gen(0);
  auto model = vgg16_classifier(c.image_size, HeadOptions{}, gen);
  if (frozen_base) model->layer("vgg16")->set_trainable(false);
  model->to(c.device);  // before Adam makes its state beside the parameters
  Adam adam(model->trainable_parameters(), AdamOptions{1e-4});
  const Batch batch = random_batch(c);
  const auto step = [&] {
    adam.zero_grad();
    Tensor loss = softmax_cross_entropy(model->forward(batch.images), batch.labels);
    loss.backward();
    adam.step();
  };
  warm_up(c, step);
  for (auto _ : state) {
    step();
    finish_step(c);
  }
  set_images_per_second(state, c.batch);
}

// A kiln::Error (a missing kernel, device memory exhausted) fails its row alone, with the message
// in the report, instead of ending the program.
template <typename Body>
void guarded(benchmark::State& state, const Body& body) {
  try {
    body();
  } catch (const Error& e) {
    state.SkipWithError(e.what());
  }
}

void base_forward(benchmark::State& state, Config c) {
  guarded(state, [&] { base_forward_body(state, c); });
}

void train_step(benchmark::State& state, Config c, bool frozen_base) {
  guarded(state, [&] { train_step_body(state, c, frozen_base); });
}

void register_rows(const Config& c) {
  const std::string suffix = "/" + c.label();
  benchmark::RegisterBenchmark(("BM_Vgg16BaseForward" + suffix).c_str(), base_forward, c)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("BM_Vgg16TrainStep" + suffix).c_str(), train_step, c, false)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("BM_Vgg16TrainStepFrozenBase" + suffix).c_str(), train_step, c,
                               true)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

// Why there are no CUDA rows (no CUDA build, or no device answers), or "" when there are.
std::string cuda_skip_reason() { return cuda::available() ? "" : cuda::unavailable_reason(); }

// The "device 0: NVIDIA H100 ..., compute capability 9.0, ..." line of
// kernels::cuda::device_report() (Kiln computes on device 0), for the context; "" if absent.
std::string cuda_device_name() {
  std::istringstream lines(cuda::device_report());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("device 0: ", 0) == 0) return line.substr(10);
  }
  return "";
}

// Takes --conv-engine=X / --conv-engine X out of argv (before Google Benchmark sees the flags).
// Returns false, having said why on stderr, on a bad or missing value.
bool take_conv_engine_flag(int& argc, char** argv, cuda::ConvEngine& engine) {
  constexpr const char* kFlag = "--conv-engine";
  const std::size_t flag_len = std::strlen(kFlag);
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    const char* value = nullptr;
    if (std::strcmp(arg, kFlag) == 0) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vgg16_bench: --conv-engine needs a value (auto, cudnn or kiln)\n");
        return false;
      }
      value = argv[++i];
    } else if (std::strncmp(arg, kFlag, flag_len) == 0 && arg[flag_len] == '=') {
      value = arg + flag_len + 1;
    } else {
      if (std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-h") == 0) {
        std::printf(
            "vgg16_bench [--conv-engine=auto|cudnn|kiln] [benchmark flags below]\n"
            "  --conv-engine  convolution engine of the CUDA rows (default auto, or "
            "KILN_CONV_ENGINE)\n\n");
      }
      argv[out++] = argv[i];
      continue;
    }
    try {
      engine = cuda::parse_conv_engine(value);
    } catch (const Error&) {
      std::fprintf(stderr, "vgg16_bench: --conv-engine: expected auto, cudnn or kiln, got '%s'\n",
                   value);
      return false;
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return true;
}

// One line on stderr about what Auto picked while the CUDA rows ran, for the reports.
void report_auto_choices() {
  const std::vector<cuda::ConvEngineChoice> choices = cuda::conv_engine_choices();
  if (choices.empty()) return;
  int kiln_wins = 0;
  for (const auto& c : choices) kiln_wins += c.chosen == cuda::ConvEngine::Kiln ? 1 : 0;
  std::fprintf(stderr,
               "conv engine auto: timed %zu (geometry, direction, math mode) cases; chose kiln in "
               "%d, cudnn in %zu\n",
               choices.size(), kiln_wins, choices.size() - static_cast<std::size_t>(kiln_wins));
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  using namespace kiln;
  cuda::ConvEngine engine = cuda::conv_engine();  // KILN_CONV_ENGINE or auto
  if (!take_conv_engine_flag(argc, argv, engine)) return 2;
  cuda::set_conv_engine(engine);

  register_rows(Config{Device::CPU, cuda::MathMode::FP32, 32, 64});
  const std::string skip = cuda_skip_reason();
  if (skip.empty()) {
    for (cuda::MathMode mode : {cuda::MathMode::FP32, cuda::MathMode::TF32}) {
      register_rows(Config{Device::CUDA, mode, 32, 64});
      register_rows(Config{Device::CUDA, mode, 32, 256});
      register_rows(Config{Device::CUDA, mode, 224, 16});
    }
    benchmark::AddCustomContext("cuda_device", cuda_device_name());
  } else {
    // stderr: stdout may be --benchmark_format=json.
    std::fprintf(stderr, "CUDA rows skipped: %s\n", skip.c_str());
    benchmark::AddCustomContext("cuda_rows", "skipped: " + skip);
  }
  benchmark::AddCustomContext("conv_engine", cuda::to_string(engine));

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (skip.empty()) report_auto_choices();
  return 0;
}
