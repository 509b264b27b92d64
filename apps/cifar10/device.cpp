#include "apps/cifar10/device.h"

#include "kernels/device_memory.h"

namespace kiln::app {

namespace {
Device g_device = Device::CPU;
}  // namespace

void set_compute_device(const std::string& name) {
  if (name == "cuda") {
    KILN_CHECK(kernels::cuda::available(), "--device cuda: no usable CUDA device (",
               kernels::cuda::unavailable_reason(), "); use --device cpu");
    g_device = Device::CUDA;
  } else {
    g_device = Device::CPU;
  }
}

Device compute_device() { return g_device; }

Tensor on_compute_device(const Tensor& t) {
  return t.device() == g_device ? t : t.to(g_device);
}

}  // namespace kiln::app
