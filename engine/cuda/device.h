// The CUDA backend's entry points that CPU code may call: device queries and initialisation.
// This header includes no CUDA header. In a build without CUDA (engine/cuda/no_cuda/) the queries
// report no device and init() throws "built without CUDA".
#pragma once
#include <string>

#include "engine/device.h"

namespace nkd::cuda {

// Number of usable CUDA devices. 0 (never an exception) when nkd was built without CUDA, when
// NKD_FORCE_CPU=1 is set, or when the runtime reports any error (no driver: error 35).
int device_count();
bool is_available();
// Why device_count() is 0, e.g. "no CUDA device: cudaGetDeviceCount returned 35 (CUDA driver
// version is insufficient for CUDA runtime version)"; empty when a device is available.
std::string unavailable_reason();
// Prepares `device` for use: on the first call registers the CUDA allocator with Storage, and
// creates the device's context. Cheap afterwards. Throws nkd::Error saying why it is unusable.
void init(Device device);
// SYNC: blocks until all work queued on the device's streams has finished.
void synchronize(Device device);

}  // namespace nkd::cuda
