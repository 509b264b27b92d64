// The one way a test skips for want of a CUDA device, or because one is present. A CUDA test
// never passes silently on a machine without a GPU: it skips, and says why.
#pragma once

#include <gtest/gtest.h>

#include "kernels/device_memory.h"

// Skips the calling test, with the driver's or the runtime's reason, when there is no usable
// CUDA device.
#define KILN_REQUIRE_CUDA()                                                              \
  do {                                                                                   \
    if (!::kiln::kernels::cuda::available()) {                                           \
      GTEST_SKIP() << "no CUDA device: " << ::kiln::kernels::cuda::unavailable_reason(); \
    }                                                                                    \
  } while (0)

// Skips the calling test when a CUDA device is present: for tests of what happens without one.
// `what` says what the device-less path checks, or where the device's tests are.
#define KILN_SKIP_WITH_CUDA(what)                             \
  do {                                                        \
    if (::kiln::kernels::cuda::available()) {                 \
      GTEST_SKIP() << "a CUDA device is present: " << (what); \
    }                                                         \
  } while (0)
