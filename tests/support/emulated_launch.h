// EmulatedLaunch: the Launch (kernels/cuda/launch.h) of the emulated tests. A family's queue_*
// function, handed one, runs its kernels on the CPU through tests/support/cuda_emulation.h with
// the launch shapes it computed, so a test runs exactly what the library would queue on a GPU.
// A test may lower the caps of looping grids (grid_cap), so that a small input can still make a
// grid-stride loop wrap. Every launch is logged, so a test can assert which kernels ran
// with which shapes (tests/kernels/emulation_coverage.sh counts a kernel as tested when an
// emulated test asserts `launched(... kernel ...)`).
#pragma once

// clang-format off
#include "tests/support/cuda_emulation.h"  // first: the built-ins launch.h is written in
// clang-format on

#include <cstdint>
#include <vector>

#include "kernels/cuda/launch.h"

namespace kiln::test {

using EmulatedShape = kernels::cuda::emulated::LaunchShape;

class EmulatedLaunch {
 public:
  // cap: the most blocks of any grid whose kernel loops over what the grid does not cover (0:
  // the library's caps).
  explicit EmulatedLaunch(std::int64_t cap = 0) : cap_(cap) {}

  std::int64_t grid_cap(std::int64_t library_cap) const {
    return cap_ > 0 && cap_ < library_cap ? cap_ : library_cap;
  }

  template <class... Params, class... Args>
  void operator()(const EmulatedShape& shape, void (*kernel)(Params...),
                  const Args&... args) const {
    log_.push_back(Record{reinterpret_cast<const void*>(kernel), shape});
    cuda_emulation::emulate_launch(
        cuda_emulation::LaunchConfig{shape.grid, shape.block, shape.shared_bytes,
                                     shape.max_threads},
        kernel, args...);
  }

  // The shapes `kernel` was launched with, in order (empty if it never was).
  template <class... Params>
  std::vector<EmulatedShape> shapes_of(void (*kernel)(Params...)) const {
    std::vector<EmulatedShape> out;
    for (const Record& r : log_)
      if (r.kernel == reinterpret_cast<const void*>(kernel)) out.push_back(r.shape);
    return out;
  }

  template <class... Params>
  bool launched(void (*kernel)(Params...)) const {
    return !shapes_of(kernel).empty();
  }

  std::size_t launches() const { return log_.size(); }
  void clear_log() const { log_.clear(); }

 private:
  struct Record {
    const void* kernel;
    EmulatedShape shape;
  };
  std::int64_t cap_;
  mutable std::vector<Record> log_;  // launches are const calls, as StreamLaunch's are
};

}  // namespace kiln::test
