// Byte copies between host and CUDA device memory, ordered on the devices' compute streams.
// CUDA-free header (ops::to_device calls it); the inline front functions compile in every build,
// and without CUDA (if constexpr) they throw "built without CUDA".
#pragma once
#include <cstddef>

#include "engine/cuda/device.h"

namespace nkd::cuda {

namespace gpu {  // the CUDA build's definitions (memcpy.cpp)
void memcpy_host_to_device(void* dst, Device dst_device, const void* src, size_t bytes);
void memcpy_device_to_host(void* dst, const void* src, Device src_device, size_t bytes);
void memcpy_device_to_device(void* dst, Device dst_device, const void* src, Device src_device,
                             size_t bytes);
}  // namespace gpu

// dst (device) <- src (pageable host). Returns once src has been read, so it may be freed at once.
inline void memcpy_host_to_device(void* dst, Device dst_device, const void* src, size_t bytes) {
  if constexpr (kBuiltWithCuda) return gpu::memcpy_host_to_device(dst, dst_device, src, bytes);
  init(dst_device);
}
// SYNC: dst (host) <- src (device); returns when the bytes are on the host.
inline void memcpy_device_to_host(void* dst, const void* src, Device src_device, size_t bytes) {
  if constexpr (kBuiltWithCuda) return gpu::memcpy_device_to_host(dst, src, src_device, bytes);
  init(src_device);
}
// dst <- src between device buffers (same or different devices); asynchronous, ordered with events
// after pending work on both devices' compute streams.
inline void memcpy_device_to_device(void* dst, Device dst_device, const void* src,
                                    Device src_device, size_t bytes) {
  if constexpr (kBuiltWithCuda)
    return gpu::memcpy_device_to_device(dst, dst_device, src, src_device, bytes);
  init(src_device);
}

}  // namespace nkd::cuda
