// Kiln's per-device CUDA context: one stream, one cuBLAS and one cuDNN handle bound to it, and a
// grow-only workspace arena. Internal to the CUDA backend: included only by .cu files (it pulls in
// the CUDA, cuBLAS and cuDNN headers); the public face is kernels/cuda_runtime.h.
//
// Invariants every .cu file relies on:
// - ALL of Kiln's GPU work (kernels, library calls, copies, memsets) is queued on stream(). The
//   caching allocator hands a freed block to the next request without waiting for the GPU; that is
//   safe only because every user of the block is ordered on this one stream.
// - The stream is non-blocking: it does not synchronise with the legacy default stream, so a
//   launch without an explicit stream (`<<<grid, block>>>`) is NOT ordered with Kiln's work. Always
//   write `<<<grid, block, shared_bytes, stream()>>>`.
// - Library handles and the workspace are shared state: use them only through a DeviceLease, which
//   holds the device's lock while an op queues its work.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <mutex>

#include "kernels/cuda/library_math.h"  // cudnn_math_type, cublas_math_mode
#include "kernels/cuda_runtime.h"

namespace kiln::kernels::cuda {

struct DeviceContext;  // defined in runtime.cu

// Kiln's stream on the current device, created on first use (throws kiln::Error without a device).
// Enough for hand-written kernels, which need no library handle and no workspace.
cudaStream_t stream();

// Exclusive use of the current device's handles and workspace while one op queues its work.
// Holds a mutex: keep a lease for the length of one op, never across calls into other ops.
class DeviceLease {
 public:
  DeviceLease();
  DeviceLease(const DeviceLease&) = delete;
  DeviceLease& operator=(const DeviceLease&) = delete;

  int device() const;
  cudaStream_t stream() const;
  // Bound to stream(); its math mode is set to cublas_math_mode(math_mode()) on every lease
  // (kernels/cuda/library_math.h: FP32 keeps FP32 compute, TF32 allows TF32). Created on first use.
  cublasHandle_t cublas();
  // Bound to stream(). Created on first use (it is slow: it loads cuDNN's kernels).
  cudnnHandle_t cudnn();
  // At least `bytes` of device scratch, valid while this lease lives and only for work queued on
  // stream(). The arena only grows: sizes settle after the first step, so a steady-state step
  // allocates nothing. Returns nullptr for 0 bytes.
  void* workspace(std::size_t bytes);

 private:
  DeviceContext* context_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace kiln::kernels::cuda
