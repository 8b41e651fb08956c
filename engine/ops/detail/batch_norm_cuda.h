// Launchers of batch norm on CUDA devices (batch_norm_cuda.cu), called by norm.cpp only under
// `if constexpr (kBuiltWithCuda)`: a CPU-only build needs no definition. x is viewed as contiguous
// [N, C, L] (detail/channels.h); T is in NKD_ALL_FLOAT_TYPES (x, y, g, gx, the residual and ge),
// P = compute_t<T> the per-channel tensors' type (F32 for BF16: master weights); statistics and
// sums accumulate in double, as on the CPU, and each T value is rounded once from the F32 path's. Each launcher queues work on the device's compute stream; the caller
// allocates every buffer, scratch included (channel_scratch_doubles).
#pragma once
#include <cstdint>

#include "engine/bf16.h"
#include "engine/device.h"
#include "engine/ops/activation.h"
#include "engine/ops/detail/channels.h"

namespace nkd::ops::gpu {

// Training: batch mean and biased variance per channel (one shifted pass); when rm_new / rv_new are not
// null they receive the updated running statistics computed from rm_old / rv_old (unbiased
// variance for rv). Inference: rm_old / rv_old are the statistics. Writes mean, invstd [C] (P, for
// backward), y = act(bn(x) + residual) [N, C, L] (bn(x) rounded to T, then the add and the
// activation in T, as the separate ops and the CPU's fused kernel). w, b [C], residual or null.
template <typename T, typename P = compute_t<T>>
void batch_norm_forward(Device device, const ChannelShape& s, bool training, double eps,
                        double momentum, const T* x, const P* rm_old, const P* rv_old, P* rm_new,
                        P* rv_new, const P* w, const P* b, const T* residual, Act act, T* y, P* mean,
                        P* invstd, double* scratch);

// gx [N, C, L] (training or inference form), gw = sum g xhat, gb = sum g per channel; each of
// them may be null. With ge [N, C, L] not null (batch_norm_act: an activation or a residual), ge =
// act'(y) g is written first (the residual's gradient; y, the forward's output, is read only when
// act != kNone) and batch norm's backward runs on it instead of g.
template <typename T, typename P = compute_t<T>>
void batch_norm_backward(Device device, const ChannelShape& s, bool training, const T* x, const T* y,
                         const T* g, const P* mean, const P* invstd, const P* w, Act act, T* ge, T* gx,
                         P* gw, P* gb, double* scratch);

}  // namespace nkd::ops::gpu
