// The CUDA backend's entry points that CPU code may call: device queries and initialisation.
// This header includes no CUDA header. Every build compiles the inline front functions; in a build
// without CUDA (if constexpr on kBuiltWithCuda) the queries report no device and init() throws
// "built without CUDA", and the gpu:: definitions (device.cpp) are not needed.
#pragma once
#include <string>

#include "engine/check.h"
#include "engine/config.h"
#include "engine/device.h"

namespace nkd::cuda {

// Why a build without CUDA has no device.
inline constexpr const char* kNoCudaReason = "built without CUDA (configure with -DNKD_CUDA=ON)";

namespace gpu {  // the CUDA build's definitions (device.cpp)
int device_count();
std::string unavailable_reason();
void init(Device device);
void synchronize(Device device);
}  // namespace gpu

// Number of usable CUDA devices. 0 (never an exception) when nkd was built without CUDA, when
// NKD_FORCE_CPU=1 is set, or when the runtime reports any error (no driver: error 35).
inline int device_count() {
  if constexpr (kBuiltWithCuda) return gpu::device_count();
  return 0;
}
inline bool is_available() { return device_count() > 0; }
// Why device_count() is 0, e.g. "no CUDA device: cudaGetDeviceCount returned 35 (CUDA driver
// version is insufficient for CUDA runtime version)"; empty when a device is available.
inline std::string unavailable_reason() {
  if constexpr (kBuiltWithCuda) return gpu::unavailable_reason();
  return kNoCudaReason;
}
// Prepares `device` for use: on the first call registers the CUDA allocator with Storage, and
// creates the device's context. Cheap afterwards. Throws nkd::Error saying why it is unusable.
inline void init(Device device) {
  if constexpr (kBuiltWithCuda) return gpu::init(device);
  NKD_FAIL("cannot use ", device.str(), ": nkd was ", kNoCudaReason);
}
// SYNC: blocks until all work queued on the device's streams has finished.
inline void synchronize(Device device) {
  if constexpr (kBuiltWithCuda) return gpu::synchronize(device);
  NKD_FAIL("cuda::synchronize(", device.str(), "): nkd was ", kNoCudaReason);
}

}  // namespace nkd::cuda
