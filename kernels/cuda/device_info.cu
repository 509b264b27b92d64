#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <sstream>

#include "kernels/device_info.h"

namespace kiln::kernels::cuda {

namespace {
// "13.0" from CUDA's 13000-style version numbers.
std::string cuda_version(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
}  // namespace

std::string device_report() {
  std::ostringstream out;
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  out << "cuda runtime: " << cuda_version(runtime) << "\n";
  out << "cuda driver api: " << (driver ? cuda_version(driver) : std::string("none")) << "\n";
  const std::size_t cudnn = cudnnGetVersion();  // e.g. 91900 for 9.19.0
  out << "cudnn: " << cudnn / 10000 << "." << (cudnn % 10000) / 100 << "." << cudnn % 100
      << " (compiled against " << CUDNN_MAJOR << "." << CUDNN_MINOR << "." << CUDNN_PATCHLEVEL
      << ")\n";
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  out << "cublas: " << major << "." << minor << "." << patch << "\n";
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    out << "device: none (" << (err != cudaSuccess ? cudaGetErrorString(err) : "no devices")
        << ")\n";
    cudaGetLastError();  // clear the sticky error state of the failed query
    return out.str();
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    out << "device " << d << ": " << p.name << ", compute capability " << p.major << "." << p.minor
        << ", " << p.multiProcessorCount << " SMs, " << p.totalGlobalMem / (1024 * 1024)
        << " MiB, L2 " << p.l2CacheSize / (1024 * 1024) << " MiB\n";
  }
  return out.str();
}

}  // namespace kiln::kernels::cuda
