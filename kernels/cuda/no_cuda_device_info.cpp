#include "kernels/device_info.h"

namespace kiln::kernels::cuda {

std::string device_report() {
  return "cuda: Kiln was built without CUDA (KILN_CUDA=OFF or no nvcc)\n";
}

}  // namespace kiln::kernels::cuda
