// Per-device contexts (stream, cuBLAS and cuDNN handles, workspace arena) and the math mode.
//
// Lifetime: contexts are created on first use and deliberately never destroyed. Destroying a
// cuDNN or cuBLAS handle from a static destructor can run after the CUDA runtime (or the driver)
// has already been torn down at process exit, which crashes instead of reporting; the driver
// reclaims every stream, handle and allocation when the process ends anyway. The objects stay
// reachable through a static pointer, so leak checkers do not report them.
#include <atomic>
#include <memory>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device_memory.h"

namespace kiln::kernels::cuda {

struct DeviceContext {
  int device = 0;
  cudaStream_t stream = nullptr;  // non-blocking; all of Kiln's work on this device
  std::mutex mutex;               // guards everything below while an op queues its work
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  void* workspace = nullptr;  // grow-only arena, from the caching allocator
  std::size_t workspace_bytes = 0;
};

namespace {

std::atomic<MathMode> g_math_mode{MathMode::FP32};

struct ContextSlot {
  std::once_flag once;
  DeviceContext* context = nullptr;
};

// One slot per visible device, sized once. Leaked on purpose (see the file comment).
ContextSlot* context_slots() {
  static ContextSlot* const slots = new ContextSlot[device_count() > 0 ? device_count() : 1];
  return slots;
}

int current_device() {
  KILN_CHECK(available(), "CUDA: no device to run on: ", unavailable_reason());
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  KILN_CHECK(device >= 0 && device < device_count(), "CUDA: current device ", device,
             " is not one of the ", device_count(), " visible devices");
  return device;
}

DeviceContext& context_for(int device) {
  ContextSlot& slot = context_slots()[device];
  // call_once: a throw (say, the stream could not be created) leaves the slot empty for a retry.
  std::call_once(slot.once, [&] {
    auto context = std::make_unique<DeviceContext>();
    context->device = device;
    CUDA_CHECK(cudaStreamCreateWithFlags(&context->stream, cudaStreamNonBlocking));
    slot.context = context.release();
  });
  return *slot.context;
}

}  // namespace

cudaStream_t stream() { return context_for(current_device()).stream; }

void set_math_mode(MathMode mode) { g_math_mode.store(mode); }

MathMode math_mode() { return g_math_mode.load(); }

void synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

DeviceLease::DeviceLease() : context_(&context_for(current_device())), lock_(context_->mutex) {}

int DeviceLease::device() const { return context_->device; }

cudaStream_t DeviceLease::stream() const { return context_->stream; }

cublasHandle_t DeviceLease::cublas() {
  if (context_->cublas == nullptr) {
    cublasHandle_t handle = nullptr;
    CUBLAS_CHECK(cublasCreate(&handle));
    context_->cublas = handle;
    CUBLAS_CHECK(cublasSetStream(handle, context_->stream));
  }
  // Set on every lease: the mode may have changed since the last op, and the call is host-only.
  // See kernels/cuda/library_math.h for what each cuBLAS mode means for FP32 data.
  CUBLAS_CHECK(cublasSetMathMode(context_->cublas, cublas_math_mode(math_mode())));
  return context_->cublas;
}

cudnnHandle_t DeviceLease::cudnn() {
  if (context_->cudnn == nullptr) {
    cudnnHandle_t handle = nullptr;
    CUDNN_CHECK(cudnnCreate(&handle));
    context_->cudnn = handle;
    CUDNN_CHECK(cudnnSetStream(handle, context_->stream));
  }
  return context_->cudnn;
}

void* DeviceLease::workspace(std::size_t bytes) {
  if (bytes == 0) return context_->workspace;
  if (bytes > context_->workspace_bytes) {
    // The old arena goes back to the caching allocator. Work already queued on the stream may
    // still read it, and whoever gets the block next queues after that work on the same stream,
    // so no synchronisation is needed. Free first, so the larger block can reuse the memory.
    void* old = context_->workspace;
    context_->workspace = nullptr;
    context_->workspace_bytes = 0;
    free(old);
    context_->workspace = allocate(bytes);
    context_->workspace_bytes = bytes;
  }
  return context_->workspace;
}

}  // namespace kiln::kernels::cuda
