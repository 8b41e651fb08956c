// Launchers of softmax / log-softmax on CUDA devices (defined in softmax_cuda.cu), called by
// softmax.cpp. CUDA-free header; without CUDA, engine/cuda/no_cuda/linalg_softmax_layernorm_stub.cpp
// defines them to throw "built without CUDA". T is float or double; tensors are contiguous
// [outer, D, inner] (geo.dim = D > 0). Each queues work on the device's compute stream and returns.
#pragma once

#include "engine/device.h"
#include "engine/ops/softmax_kernels.h"

namespace nkd::ops::gpu {

// y = softmax (kLog = false) or log_softmax (kLog = true) of x along D.
template <typename T, bool kLog>
void softmax_forward(Device device, const math::SoftmaxGeometry& geo, const T* x, T* y);
// gx from the forward output y and the output gradient g (the formulas of softmax_math.h).
template <typename T, bool kLog>
void softmax_backward(Device device, const math::SoftmaxGeometry& geo, const T* g, const T* y, T* gx);

}  // namespace nkd::ops::gpu

#define NKD_SOFTMAX_CUDA_INSTANTIATE(T, kLog)                                                     \
  template void softmax_forward<T, kLog>(Device, const math::SoftmaxGeometry&, const T*, T*);    \
  template void softmax_backward<T, kLog>(Device, const math::SoftmaxGeometry&, const T*, const T*, \
                                          T*);
#define NKD_SOFTMAX_CUDA_INSTANTIATE_ALL()                                          \
  NKD_SOFTMAX_CUDA_INSTANTIATE(float, false) NKD_SOFTMAX_CUDA_INSTANTIATE(float, true) \
  NKD_SOFTMAX_CUDA_INSTANTIATE(double, false) NKD_SOFTMAX_CUDA_INSTANTIATE(double, true)
