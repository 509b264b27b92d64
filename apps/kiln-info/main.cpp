// kiln-info: what this Kiln build can use here — CPU engine and threads, the CUDA side (device,
// driver, runtime, cuDNN, cuBLAS). scripts/gpu-check puts its output at the top of its report.
#include <omp.h>

#include <cstdio>

#include "core/dispatch.h"
#include "kernels/device_info.h"
#include "kernels/device_memory.h"

int main() {
  std::printf("cpu engine: %s\n", kiln::cpu_engine() == kiln::CpuEngine::Fast
                                      ? "fast (oneDNN, OpenBLAS, OpenMP)"
                                      : "reference");
  std::printf("openmp threads: %d\n", omp_get_max_threads());
  std::printf("cuda available: %s\n",
              kiln::kernels::cuda::available() ? "yes" : kiln::kernels::cuda::unavailable_reason());
  std::fputs(kiln::kernels::cuda::device_report().c_str(), stdout);
  return 0;
}
