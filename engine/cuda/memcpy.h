// Byte copies between host and CUDA device memory, ordered on the devices' compute streams.
// CUDA-free header (ops::to_device calls it); without CUDA every function throws
// "built without CUDA".
#pragma once
#include <cstddef>

#include "engine/device.h"

namespace nkd::cuda {

// dst (device) <- src (pageable host). Returns once src has been read, so it may be freed at once.
void memcpy_host_to_device(void* dst, Device dst_device, const void* src, size_t bytes);
// SYNC: dst (host) <- src (device); returns when the bytes are on the host.
void memcpy_device_to_host(void* dst, const void* src, Device src_device, size_t bytes);
// dst <- src between device buffers (same or different devices); asynchronous, ordered with events
// after pending work on both devices' compute streams.
void memcpy_device_to_device(void* dst, Device dst_device, const void* src, Device src_device,
                             size_t bytes);

}  // namespace nkd::cuda
