# CPU dependencies, all from Debian (scripts/setup installs them).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)

# oneDNN 2.x (libdnnl-dev): convolutions on the CPU.
find_package(dnnl CONFIG QUIET)
if(TARGET DNNL::dnnl)
  set(KILN_DNNL DNNL::dnnl)
else()
  find_path(DNNL_INCLUDE_DIR dnnl.hpp REQUIRED)
  find_library(DNNL_LIBRARY dnnl REQUIRED)
  add_library(kiln_dnnl INTERFACE)
  target_include_directories(kiln_dnnl INTERFACE ${DNNL_INCLUDE_DIR})
  target_link_libraries(kiln_dnnl INTERFACE ${DNNL_LIBRARY})
  set(KILN_DNNL kiln_dnnl)
endif()

# OpenBLAS: GEMMs of Dense layers. Prefer the OpenMP build so BLAS shares OpenMP's thread pool
# with our own loops and oneDNN (the pthread build would oversubscribe the cores).
find_library(OPENBLAS_LIBRARY NAMES openblas
  HINTS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  REQUIRED)
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas REQUIRED)
add_library(kiln_blas INTERFACE)
target_include_directories(kiln_blas INTERFACE ${CBLAS_INCLUDE_DIR})
target_link_libraries(kiln_blas INTERFACE ${OPENBLAS_LIBRARY})
message(STATUS "Kiln: BLAS ${OPENBLAS_LIBRARY}")
