// Compiled by ctest layering_kernels_cannot_include_core with kiln_kernels' include folders only
// (kernels/ and base/): it must fail to compile, because core/ sits above kernels/
// (cmake/KilnLayers.cmake). Were the source root on the include path again, it would compile and
// the test would fail.
#include "core/tensor.h"
