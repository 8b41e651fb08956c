// Shared helpers of the CUDA tests: skip with the reason when no GPU can be used.
#pragma once
#include <gtest/gtest.h>

#include "engine/cuda/device.h"
#include "engine/device.h"

// Skips the test with, e.g., "no CUDA device: cudaGetDeviceCount returned 35 (...)" or
// "built without CUDA (...)".
#define NKD_REQUIRE_CUDA()                                                       \
  do {                                                                           \
    if (!::nkd::cuda::is_available()) GTEST_SKIP() << ::nkd::cuda::unavailable_reason(); \
  } while (0)

namespace nkd::testing {
inline Device gpu() { return cuda_device(0); }
}  // namespace nkd::testing
