// Host-device and device-device byte copies on the compute streams.
#include "engine/cuda/memcpy.h"

#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/cuda/device.h"

namespace nkd::cuda::gpu {

void memcpy_host_to_device(void* dst, Device dst_device, const void* src, size_t bytes) {
  if (bytes == 0) return;
  init(dst_device);
  const cudaStream_t stream = context(dst_device.index).compute_stream();
  DeviceGuard guard(dst_device.index);
  // From pageable memory the call returns once src is staged, so the caller may free it.
  NKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}

void memcpy_device_to_host(void* dst, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  init(src_device);
  const cudaStream_t stream = context(src_device.index).compute_stream();
  DeviceGuard guard(src_device.index);
  NKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  // SYNC: the host reads dst as soon as this returns.
  NKD_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_device_to_device(void* dst, Device dst_device, const void* src, Device src_device,
                             size_t bytes) {
  if (bytes == 0) return;
  init(dst_device);
  init(src_device);
  const cudaStream_t src_stream = context(src_device.index).compute_stream();
  if (dst_device == src_device) {
    DeviceGuard guard(src_device.index);
    NKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, src_stream));
    return;
  }
  // dst was allocated in dst's stream order: the copy (on src's stream) waits for dst's stream,
  // and dst's later work waits for the copy.
  const cudaStream_t dst_stream = context(dst_device.index).compute_stream();
  DeviceGuard on_dst(dst_device.index);
  Event dst_ready;  // events belong to the device current at creation
  dst_ready.record(dst_stream);
  DeviceGuard on_src(src_device.index);
  Event copied;
  dst_ready.block(src_stream);
  NKD_CUDA_CHECK(
      cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, bytes, src_stream));
  copied.record(src_stream);
  copied.block(dst_stream);
}

}  // namespace nkd::cuda::gpu
