// Batch norm's CPU kernels (batch_norm_cpu.cpp), F32, F64 and BF16, parallel over channels, with the
// optional residual add and activation of ops::batch_norm_act fused into the same passes:
//   forward   y = act(bn(x) + residual), bn(x) rounded to T first, then the add and the activation
//             in T (the values the separate batch_norm, add and relu / relu6 ops give);
//   backward  ge = act'(y) g (the mask read from the saved output y: relu and relu6 pass g exactly
//             where their input lay strictly inside (0, 6) or (0, inf), which y tells apart too),
//             written to gres (the residual's gradient) when asked, and batch norm's backward on ge.
// act = kNone with no residual is plain batch norm.
// T is the storage type of x, y, g, gx and the residual; the per-channel tensors (running statistics,
// weight, bias, mean, invstd and their gradients) are P = compute_t<T> (F32 for a BF16 x: master
// weights), and the arithmetic is the F32 path's (double), each BF16 value rounded once from it.
#pragma once
#include <cstdint>

#include "engine/bf16.h"
#include "engine/ops/activation.h"
#include "engine/ops/detail/norm_cpu.h"

namespace nkd::ops::detail {

// Statistics (the batch's when training, else the running rm / rv), saved as mean and
// invstd = 1 / sqrt(var + eps); batch (training only) receives [mean..., biased variance...].
// w, b, residual may be null.
template <typename T, typename P = compute_t<T>>
void bn_forward(const T* x, const NCL& s, bool training, double eps, const P* rm, const P* rv, const P* w,
                const P* b, const T* residual, Act act, T* y, P* mean, P* invstd, double* batch);

// y: the forward's output (read only when act != kNone). Any of gx, gw, gb, gres may be null.
template <typename T, typename P = compute_t<T>>
void bn_backward(const T* x, const T* y, const T* g, const NCL& s, bool training, const P* mean,
                 const P* invstd, const P* w, Act act, T* gx, P* gw, P* gb, T* gres);

}  // namespace nkd::ops::detail
