// Launchers of softmax / log-softmax on CUDA devices (shared-memory row kernels, defined in
// softmax_cuda.cu), called by softmax.cpp only under `if constexpr (kBuiltWithCuda)`: a CPU-only
// build needs no definition. T is in NKD_FLOAT_TYPES; tensors are contiguous [outer, D, inner]
// (geo.dim = D > 0). Each queues work on the device's compute stream and returns.
#pragma once

#include "engine/device.h"
#include "engine/ops/detail/softmax_math.h"

namespace nkd::ops::gpu {

// y = softmax (kLog = false) or log_softmax (kLog = true) of x along D.
template <typename T, bool kLog>
void softmax_forward(Device device, const math::SoftmaxGeometry& geo, const T* x, T* y);
// gx from the forward output y and the output gradient g (the formulas of softmax_math.h).
template <typename T, bool kLog>
void softmax_backward(Device device, const math::SoftmaxGeometry& geo, const T* g, const T* y, T* gx);

}  // namespace nkd::ops::gpu
