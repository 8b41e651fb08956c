// Launchers of batch norm on CUDA devices (batch_norm_cuda.cu), called by norm.cpp only under
// `if constexpr (kBuiltWithCuda)`: a CPU-only build needs no definition. x is viewed as contiguous
// [N, C, L] (detail/channels.h); T is in NKD_FLOAT_TYPES; statistics and sums accumulate in
// double, as on the CPU. Each launcher queues work on the device's compute stream; the caller
// allocates every buffer, scratch included (channel_scratch_doubles).
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/ops/detail/channels.h"

namespace nkd::ops::gpu {

// Training: batch mean and biased variance per channel (one shifted pass); when rm_new / rv_new are not
// null they receive the updated running statistics computed from rm_old / rv_old (unbiased
// variance for rv). Inference: rm_old / rv_old are the statistics. Writes mean, invstd [C] (T, for
// backward), y [N, C, L]. w, b [C] or null.
template <typename T>
void batch_norm_forward(Device device, const ChannelShape& s, bool training, double eps,
                        double momentum, const T* x, const T* rm_old, const T* rv_old, T* rm_new,
                        T* rv_new, const T* w, const T* b, T* y, T* mean, T* invstd,
                        double* scratch);

// gx [N, C, L] (training or inference form), gw = sum g xhat, gb = sum g per channel; each output
// may be null.
template <typename T>
void batch_norm_backward(Device device, const ChannelShape& s, bool training, const T* x,
                         const T* g, const T* mean, const T* invstd, const T* w, T* gx, T* gw,
                         T* gb, double* scratch);

}  // namespace nkd::ops::gpu
