// Softmax cross-entropy and count_correct on the GPU: the twins of kernels/cpu/loss.cpp. The
// kernels and their launches are in loss_kernels.cuh (run on the CPU by the emulated tests); this
// file checks arguments, provides the workspace and brings the mean loss back to the host.
#include <cuda_runtime.h>

#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/loss_kernels.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream_launch.h"
#include "kernels/loss.h"

namespace kiln::kernels::cuda {
namespace {

using detail::StreamLaunch;

void check_sizes(const char* op, std::int64_t n, std::int64_t k, const std::int32_t* labels,
                 const float* target_probs) {
  KILN_CHECK(n >= 0 && k > 0, op, ": bad logits shape (", n, ", ", k, ")");
  KILN_CHECK(k <= 0x7fffffff, op, ": ", k, " classes do not fit int32 labels");
  KILN_CHECK((labels == nullptr) != (target_probs == nullptr), op,
             ": exactly one of labels and target_probs must be given");
}

}  // namespace

double softmax_cross_entropy_forward(std::int64_t n, std::int64_t k, const float* logits,
                                     const std::int32_t* labels, const float* target_probs,
                                     float* probs) {
  check_sizes("softmax_cross_entropy_forward", n, k, labels, target_probs);
  if (n == 0) return 0.0;  // the mean of nothing, as on the CPU
  DeviceLease lease;
  const cudaStream_t s = lease.stream();
  auto* workspace =
      static_cast<double*>(lease.workspace(sizeof(double) * detail::loss_workspace_doubles(n)));
  const double* total = detail::queue_softmax_cross_entropy_forward(
      StreamLaunch{s}, n, k, logits, labels, target_probs, probs, workspace);
  double host = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(&host, total, sizeof(double), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return host / static_cast<double>(n);
}

void softmax_cross_entropy_backward(std::int64_t n, std::int64_t k, const float* probs,
                                    const std::int32_t* labels, const float* target_probs,
                                    float scale, float* glogits) {
  check_sizes("softmax_cross_entropy_backward", n, k, labels, target_probs);
  if (n == 0) return;
  detail::queue_softmax_cross_entropy_backward(StreamLaunch{stream()}, n, k, probs, labels,
                                               target_probs, scale, glogits);
}

void count_correct(std::int64_t n, std::int64_t k, const float* logits, const std::int32_t* labels,
                   std::int64_t* correct) {
  KILN_CHECK(n >= 0 && k > 0 && k <= 0x7fffffff, "count_correct: bad logits shape (", n, ", ", k,
             ")");
  KILN_CHECK(labels != nullptr, "count_correct: labels are required");
  if (n == 0) return;
  detail::queue_count_correct(StreamLaunch{stream()}, n, k, logits, labels, correct);
}

}  // namespace kiln::kernels::cuda
