// Launchers of layer norm on CUDA devices (shared-memory row kernels, layer_norm_cuda.cu), called
// by norm.cpp only under `if constexpr (kBuiltWithCuda)`: a CPU-only build needs no definition.
// T is in NKD_ALL_FLOAT_TYPES; x, y, g, gx are contiguous [rows, D] of T; weight, bias, gw, gb are
// [D] (null when absent / not wanted) and mean, invstd [rows], of P = compute_t<T> (F32 for BF16).
// Sums are in double, as on the CPU; a BF16 value is rounded once from the F32 path's.
// Each queues work on the device's compute stream and returns.
#pragma once
#include <cstdint>

#include "engine/bf16.h"
#include "engine/device.h"

namespace nkd::ops::gpu {

// mean[r], invstd[r] = 1 / sqrt(biased var + eps) (two passes), y = xhat * weight + bias.
template <typename T, typename P = compute_t<T>>
void layer_norm_forward(Device device, const T* x, const P* weight, const P* bias, T* y, P* mean,
                        P* invstd, int64_t rows, int64_t d, double eps);
// gx = invstd * (gh - mean_j(gh) - xhat * mean_j(gh * xhat)), gh = g * weight.
template <typename T, typename P = compute_t<T>>
void layer_norm_backward_x(Device device, const T* x, const T* g, const P* mean, const P* invstd,
                           const P* weight, T* gx, int64_t rows, int64_t d);
// gw[j] = sum_r g[r, j] xhat[r, j], gb[j] = sum_r g[r, j]: per-chunk partial sums, then a fixed-
// order sum of the chunks (no atomics: deterministic). Scratch from the engine allocator.
template <typename T, typename P = compute_t<T>>
void layer_norm_backward_params(Device device, const T* x, const T* g, const P* mean,
                                const P* invstd, P* gw, P* gb, int64_t rows, int64_t d);

}  // namespace nkd::ops::gpu
