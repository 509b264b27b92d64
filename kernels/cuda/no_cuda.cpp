// The CUDA runtime's answers in builds without the CUDA backend (KILN_CUDA=OFF or no nvcc): nothing
// is available, and any attempt to use a device fails loudly with the reason, never silently.
// These are the questions CPU-only code may rightly ask (is there a device? what does the
// allocator hold?). The kernels themselves have no stubs: every call to one is compiled only in
// CUDA builds (kernels/cuda_build.h).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/batch_upload.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_build.h"
#include "kernels/cuda_fill.h"
#include "kernels/cuda_runtime.h"
#include "kernels/device_info.h"
#include "kernels/device_memory.h"

namespace kiln::kernels::cuda {
namespace {

constexpr const char* kReason = kNotBuiltReason;

[[noreturn]] void fail(const char* what) { KILN_FAIL(what, ": ", kReason); }

// The math mode is only a setting, so it is kept and read back.
std::atomic<MathMode> g_math_mode{MathMode::FP32};

}  // namespace

bool available() { return false; }

int device_count() { return 0; }

const char* unavailable_reason() { return kReason; }

void* allocate(std::size_t /*bytes*/) { fail("cuda::allocate"); }

// Nothing can have been allocated, so there is nothing to free; a null pointer is accepted anyway.
void free(void* /*ptr*/) noexcept {}

// Nothing is ever allocated, so nothing is cached or in use, and there is nothing to empty.
std::size_t cached_bytes() { return 0; }

std::size_t allocated_bytes() { return 0; }

void empty_cache() {}

void* allocate_pinned(std::size_t /*bytes*/) { fail("cuda::allocate_pinned"); }

void free_pinned(void* /*ptr*/) noexcept {}

void copy_host_to_device(void*, const void*, std::size_t) { fail("cuda::copy_host_to_device"); }

void copy_device_to_host(void*, const void*, std::size_t) { fail("cuda::copy_device_to_host"); }

void copy_device_to_device(void*, const void*, std::size_t) { fail("cuda::copy_device_to_device"); }

void memset_zero(void*, std::size_t) { fail("cuda::memset_zero"); }

void fill_float(float*, std::int64_t, float) { fail("cuda::fill_float"); }

void synchronize() { fail("cuda::synchronize"); }

void set_math_mode(MathMode mode) { g_math_mode.store(mode); }

MathMode math_mode() { return g_math_mode.load(); }

std::vector<ConvEngineChoice> conv_engine_choices() { return {}; }  // nothing ever ran

std::string device_report() { return std::string("cuda: ") + kReason + "\n"; }

// No ring is ever made: the constructor throws, so the other members are never reached.
struct BatchUploader::Impl {};
BatchUploader::BatchUploader(std::size_t /*capacity*/) { fail("cuda::BatchUploader"); }
BatchUploader::~BatchUploader() = default;
std::size_t BatchUploader::capacity() const { return 0; }
BatchUploader::Ticket BatchUploader::stage(const void*, std::size_t) {
  fail("cuda::BatchUploader");
}
const void* BatchUploader::acquire(const Ticket&) { fail("cuda::BatchUploader"); }
void BatchUploader::release(const Ticket&) { fail("cuda::BatchUploader"); }

}  // namespace kiln::kernels::cuda
