#include "apps/cifar10/device.h"

#include <sstream>

#include "apps/cifar10/distributed.h"
#include "kernels/device_info.h"
#include "kernels/device_memory.h"
#include "kernels/nccl.h"

namespace kiln::app {

namespace {

Device g_device = Device::CPU;

// "NVIDIA H200" from device_report()'s "device 0: NVIDIA H200, compute capability 9.0, ..." line.
std::string first_gpu_name() {
  std::istringstream report(kernels::cuda::device_report());
  for (std::string line; std::getline(report, line);) {
    const std::string key = "device 0: ";
    if (line.rfind(key, 0) == 0) return line.substr(key.size(), line.find(',') - key.size());
  }
  return "CUDA device 0";
}

// In a job of several ranks, each takes its own GPU of the host (NCCL refuses two ranks on one),
// before anything is put on the device; says which.
std::string rank_gpu() {
  if (job_size() <= 1) return "";
  const int gpu = kernels::nccl::select_device();
  return "; rank " + std::to_string(job_rank()) + " on GPU " + std::to_string(gpu);
}

}  // namespace

std::string set_compute_device(const std::string& name) {
  const bool cuda = kernels::cuda::available();
  if (name == "cuda") {
    KILN_CHECK(cuda, "--device cuda: no usable CUDA device (", kernels::cuda::unavailable_reason(),
               "); use --device cpu or auto");
    g_device = Device::CUDA;
    return "device: cuda (" + first_gpu_name() + rank_gpu() + ")";
  }
  if (name == "auto" && cuda) {
    g_device = Device::CUDA;
    return "device: cuda (" + first_gpu_name() + "; --device auto" + rank_gpu() + ")";
  }
  g_device = Device::CPU;
  if (name == "auto") {
    return std::string("device: cpu (--device auto: ") + kernels::cuda::unavailable_reason() + ")";
  }
  return "device: cpu";
}

Device compute_device() { return g_device; }

Tensor on_compute_device(const Tensor& t) { return t.device() == g_device ? t : t.to(g_device); }

}  // namespace kiln::app
