// One Adam step over VGG16's parameters at 32px (the 13 convolutions, 14,714,688 parameters, and
// the 512 -> 256 -> 10 head): 30 tensors, from 10 to 2,359,296 elements. CPU: Kiln's OpenMP + SIMD
// loop against the reference loop. GPU: Kiln's multi-tensor update (one launch for all 30
// tensors) against the per-tensor update a framework without multi-tensor apply makes (one launch
// per tensor, Kiln's own single-tensor kernel: cuDNN and cuBLAS have no optimiser to race).
// Memory-bound: every element reads param, grad, m, v and writes param, m, v (28 bytes).
//
// Every step updates the tensors in place, so each timed iteration is one more step on the same
// buffers; the values drift but stay finite (v > 0, and eps keeps the division bounded).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/support/bench.h"
#include "kernels/optim.h"

#if KILN_WITH_CUDA
#include "bench/support/gpu.h"
#endif

namespace kiln::bench {
namespace {

namespace kc = kernels::cpu;
using kernels::AdamScalars;

// One parameter tensor of the model: `n` elements at `offset` in each flat array.
struct Param {
  std::string name;  // "block3_conv2/kernel"
  std::int64_t n, offset;
};

// The tensors laid end to end, each starting on a 256-byte boundary, as a device allocator would
// hand them out (so a vectorised kernel meets aligned tensors, as it does in training).
struct ParamSet {
  std::vector<Param> tensors;
  std::int64_t elements = 0;  // parameters, without the alignment padding
  std::int64_t span = 0;      // floats in each flat array, padding included
};

const ParamSet& vgg16_params() {
  static const ParamSet set = [] {
    ParamSet s;
    const auto add = [&s](const std::string& name, std::int64_t n) {
      s.tensors.push_back({name, n, s.span});
      s.elements += n;
      s.span += (n + 63) / 64 * 64;
    };
    for (const VggConv& conv : vgg16_convs()) {
      add(std::string(conv.name) + "/kernel", conv.k * conv.c * 3 * 3);
      add(std::string(conv.name) + "/bias", conv.k);
    }
    add("dense/kernel", 512 * 256);  // 32px: the base's output is (512, 1, 1)
    add("dense/bias", 256);
    add("dense_1/kernel", 256 * 10);
    add("dense_1/bias", 10);
    return s;
  }();
  return set;
}

// VGG16's base holds 14,714,688 parameters (Keras' count); the head adds 131,328 + 2,570.
constexpr std::int64_t kExpectedElements = 14714688 + 512 * 256 + 256 + 256 * 10 + 10;

// Step 1 of Keras' Adam with lr 1e-3 and AdamW-style decay lr * wd = 1e-3 * 1e-2, so the decay
// term is exercised too.
AdamScalars scalars() {
  const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999;
  return AdamScalars{beta1, beta2, lr * std::sqrt(1 - beta2) / (1 - beta1), 1e-7, lr * 1e-2};
}

Work adam_work() { return {28.0 * vgg16_params().elements, 0, Bound::Memory}; }

// Fresh random state for one step: params and grads in [-1, 1), m in [-0.1, 0.1), v in
// [1e-4, 1e-2) (positive, as a second moment is).
struct AdamState {
  std::vector<float> param, grad, m, v;
  static AdamState random(std::uint64_t seed) {
    const std::int64_t span = vgg16_params().span;
    return {random_floats(span, seed), random_floats(span, seed + 1),
            random_floats(span, seed + 2, -0.1f, 0.1f),
            random_floats(span, seed + 3, 1e-4f, 1e-2f)};
  }
};

// The reference step, tensor by tensor, in place on `s`.
void reference_step(AdamState& s) {
  const AdamScalars sc = scalars();
  for (const Param& p : vgg16_params().tensors) {
    kc::adam_update_reference<float>(p.n, sc, s.grad.data() + p.offset, s.m.data() + p.offset,
                                     s.v.data() + p.offset, s.param.data() + p.offset);
  }
}

// Checks param, m and v against the reference. The CPU fast path and both CUDA kernels do the
// reference's float operations in its order (the CUDA ones with __f*_rn, which nvcc never fuses),
// so they are expected to agree bit for bit; the slack of a few ulps is only for a compiler that
// contracts the CPU loop into FMAs. A wrong formula moves param by about the step itself, ~1e-3.
bool verify_step(benchmark::State& st, const AdamState& got, const AdamState& ref,
                 const std::string& what) {
  const double rel = 1e-6, abs = 1e-9;
  return verify(st, got.param, ref.param, rel, abs, what + ": param") &&
         verify(st, got.m, ref.m, rel, abs, what + ": m") &&
         verify(st, got.v, ref.v, rel, abs, what + ": v");
}

void register_cpu() {
  const std::string group = "adam/vgg16_32px/cpu";
  benchmark::RegisterBenchmark((group + "/reference").c_str(), [group](benchmark::State& st) {
    if (vgg16_params().elements != kExpectedElements) {
      fail(st, "adam: VGG16 has " + std::to_string(vgg16_params().elements) +
                   " parameters, expected " + std::to_string(kExpectedElements));
      return;
    }
    AdamState s = AdamState::random(1);
    run_cpu(st, [&] { reference_step(s); }, adam_work(), {group, true});
  })->UseManualTime();
  benchmark::RegisterBenchmark((group + "/kiln_openmp").c_str(), [group](benchmark::State& st) {
    AdamState s = AdamState::random(2), ref = s;
    reference_step(ref);
    const AdamScalars sc = scalars();
    const auto step = [&] {
      for (const Param& p : vgg16_params().tensors) {
        kc::adam_update_fast(p.n, sc, s.grad.data() + p.offset, s.m.data() + p.offset,
                             s.v.data() + p.offset, s.param.data() + p.offset);
      }
    };
    step();
    if (!verify_step(st, s, ref, "cpu::adam_update_fast")) return;
    run_cpu(st, step, adam_work(), {group, false});
  })->UseManualTime();
}

#if KILN_WITH_CUDA
namespace cuda = kernels::cuda;

// The state on the device, one flat array each, and the tensor table pointing into them.
struct DeviceAdamState {
  gpu::Buffer<float> param, grad, m, v;
  std::vector<cuda::AdamTensor> table;  // host array, as the optimiser passes it
  explicit DeviceAdamState(const AdamState& s) : param(s.param), grad(s.grad), m(s.m), v(s.v) {
    for (const Param& p : vgg16_params().tensors) {
      table.push_back({p.n, grad.get() + p.offset, m.get() + p.offset, v.get() + p.offset,
                       param.get() + p.offset});
    }
  }
  AdamState download() const {
    return {param.download(), grad.download(), m.download(), v.download()};
  }
};

void per_tensor_step(DeviceAdamState& d) {
  const AdamScalars sc = scalars();
  for (const cuda::AdamTensor& t : d.table) cuda::adam_update(t.n, sc, t.grad, t.m, t.v, t.param);
}

void multi_tensor_step(DeviceAdamState& d) {
  cuda::adam_update_multi(d.table.data(), static_cast<std::int64_t>(d.table.size()), scalars());
}

void register_gpu() {
  const std::string group = "adam/vgg16_32px/gpu";
  benchmark::RegisterBenchmark(
      (group + "/per_tensor").c_str(),
      [group](benchmark::State& st) {
        const AdamState host = AdamState::random(11);
        AdamState ref = host;
        reference_step(ref);
        DeviceAdamState d(host);
        per_tensor_step(d);
        if (!verify_step(st, d.download(), ref, "cuda::adam_update per tensor")) return;
        gpu::run(st, [&] { per_tensor_step(d); }, adam_work(), {group, true});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
  benchmark::RegisterBenchmark(
      (group + "/kiln_multi_tensor").c_str(),
      [group](benchmark::State& st) {
        const AdamState host = AdamState::random(12);
        AdamState ref = host;
        reference_step(ref);
        DeviceAdamState d(host);
        multi_tensor_step(d);
        if (!verify_step(st, d.download(), ref, "cuda::adam_update_multi")) return;
        gpu::run(st, [&] { multi_tensor_step(d); }, adam_work(), {group, false});
      })
      ->UseManualTime()
      ->Iterations(gpu::iterations());
}
#endif

void register_all() {
  register_cpu();
#if KILN_WITH_CUDA
  if (gpu::available(nullptr)) register_gpu();
#endif
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::run_main(argc, argv, kiln::bench::register_all);
}
