// The GPU launcher of the shape, indexing and dropout kernel functors (shape_math.h,
// dropout_math.h), defined in shape_dropout_cuda.cu; CUDA-free header. Without CUDA,
// engine/cuda/no_cuda/shape_dropout_stub.cpp defines it to throw "built without CUDA".
// launch_on() is what the op code calls: cpu::launch on the host, the same functor on the GPU.
#pragma once
#include <cstdint>

#include "engine/cpu/parallel.h"
#include "engine/device.h"
#include "engine/ops/dropout_math.h"
#include "engine/ops/shape_math.h"

namespace nkd::ops::gpu {

// Queues kernel(i), i in [0, n), on the device's compute stream (64-bit grid-stride loop) and
// returns at once. Only the functors of NKD_SHAPE_CUDA_INSTANTIATE_ALL exist.
template <typename Kernel>
void run_functor(Device device, int64_t n, const Kernel& kernel);

}  // namespace nkd::ops::gpu

// The instantiations of run_functor for element type T (used by the .cu file and the stub):
// the data movers for every dtype of dispatch_all, the float-only kernels by the _FLOAT list.
#define NKD_SHAPE_CUDA_INSTANTIATE_DATA(T)                                                          \
  template void run_functor(Device, int64_t, const math::GatherKernel<T>&);                        \
  template void run_functor(Device, int64_t, const math::IndexSelectKernel<T>&);                   \
  template void run_functor(Device, int64_t, const math::OneHotKernel<T>&);                        \
  template void run_functor(Device, int64_t, const math::RollKernel<T>&);                          \
  template void run_functor(Device, int64_t, const math::PadKernel<T>&);
#define NKD_SHAPE_CUDA_INSTANTIATE_FLOAT(T)                                                         \
  template void run_functor(Device, int64_t, const math::ScatterColumnsKernel<T, math::ScatterMode::Assign>&); \
  template void run_functor(Device, int64_t, const math::ScatterColumnsKernel<T, math::ScatterMode::Add>&); \
  template void run_functor(Device, int64_t, const math::ScatterColumnsKernel<T, math::ScatterMode::Zero>&); \
  template void run_functor(Device, int64_t, const math::IndexAddKernel<T>&);                      \
  template void run_functor(Device, int64_t, const math::IndexAddScanKernel<T>&);                  \
  template void run_functor(Device, int64_t, const math::DropoutKernel<T>&);
#define NKD_SHAPE_CUDA_INSTANTIATE_ALL()                                                         \
  NKD_SHAPE_CUDA_INSTANTIATE_DATA(float) NKD_SHAPE_CUDA_INSTANTIATE_DATA(double)                 \
  NKD_SHAPE_CUDA_INSTANTIATE_DATA(int64_t) NKD_SHAPE_CUDA_INSTANTIATE_DATA(int32_t)              \
  NKD_SHAPE_CUDA_INSTANTIATE_DATA(uint8_t)                                                       \
  NKD_SHAPE_CUDA_INSTANTIATE_FLOAT(float) NKD_SHAPE_CUDA_INSTANTIATE_FLOAT(double)

namespace nkd::ops {

// Runs kernel(i), i in [0, n), on `device`: cpu::launch (with `grain`) on the host, the same
// functor through gpu::run_functor on a CUDA device.
template <typename Kernel>
void launch_on(Device device, int64_t n, const Kernel& kernel, int64_t grain = cpu::kGrain) {
  if (device.is_cuda()) {
    gpu::run_functor(device, n, kernel);
  } else {
    cpu::launch(n, kernel, grain);
  }
}

}  // namespace nkd::ops
