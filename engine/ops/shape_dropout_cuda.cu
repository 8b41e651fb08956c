// GPU launcher of the shape, indexing and dropout functors (shape_math.h, dropout_math.h): the
// same NKD_HD functors the CPU loops run, through cuda::launch on the device's compute stream.
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/ops/shape_dropout_cuda.h"

namespace nkd::ops::gpu {

template <typename Kernel>
void run_functor(Device device, int64_t n, const Kernel& kernel) {
  const cuda::DeviceGuard guard(device.index);
  cuda::launch(n, kernel, cuda::context(device.index).compute_stream());
}

NKD_SHAPE_CUDA_INSTANTIATE_ALL()

}  // namespace nkd::ops::gpu
