// Batch norm's CPU kernels (batch_norm_cpu.cpp), F32 and F64, parallel over channels, with the
// optional residual add and activation of ops::batch_norm_act fused into the same passes:
//   forward   y = act(bn(x) + residual), bn(x) rounded to T first, then the add and the activation
//             in T (the values the separate batch_norm, add and relu / relu6 ops give);
//   backward  ge = act'(y) g (the mask read from the saved output y: relu and relu6 pass g exactly
//             where their input lay strictly inside (0, 6) or (0, inf), which y tells apart too),
//             written to gres (the residual's gradient) when asked, and batch norm's backward on ge.
// act = kNone with no residual is plain batch norm.
#pragma once
#include <cstdint>

#include "engine/ops/activation.h"
#include "engine/ops/detail/norm_cpu.h"

namespace nkd::ops::detail {

// Statistics (the batch's when training, else the running rm / rv), saved as mean and
// invstd = 1 / sqrt(var + eps); batch (training only) receives [mean..., biased variance...].
// w, b, residual may be null.
template <typename T>
void bn_forward(const T* x, const NCL& s, bool training, double eps, const T* rm, const T* rv, const T* w,
                const T* b, const T* residual, Act act, T* y, T* mean, T* invstd, double* batch);

// y: the forward's output (read only when act != kNone). Any of gx, gw, gb, gres may be null.
template <typename T>
void bn_backward(const T* x, const T* y, const T* g, const NCL& s, bool training, const T* mean,
                 const T* invstd, const T* w, Act act, T* gx, T* gw, T* gb, T* gres);

}  // namespace nkd::ops::detail
