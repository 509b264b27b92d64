// What the CUDA side of this build and machine is: for reports (scripts/gpu-check) and --help.
// No CUDA includes: CPU-only builds answer that CUDA is not built in.
#pragma once

#include <string>

namespace kiln::kernels::cuda {

// Lines "key: value": device, compute capability, SMs, memory, driver, runtime, cuDNN, cuBLAS.
// Never throws; what cannot be read says why.
std::string device_report();

}  // namespace kiln::kernels::cuda
