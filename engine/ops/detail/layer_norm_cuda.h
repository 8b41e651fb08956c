// Launchers of layer norm on CUDA devices (shared-memory row kernels, layer_norm_cuda.cu), called
// by norm.cpp only under `if constexpr (kBuiltWithCuda)`: a CPU-only build needs no definition.
// T is in NKD_FLOAT_TYPES; x, y, g, gx are contiguous [rows, D]; weight, bias, gw, gb are [D]
// (null when absent / not wanted); mean, invstd are [rows]. Sums are in double, as on the CPU.
// Each queues work on the device's compute stream and returns.
#pragma once
#include <cstdint>

#include "engine/device.h"

namespace nkd::ops::gpu {

// mean[r], invstd[r] = 1 / sqrt(biased var + eps) (two passes), y = xhat * weight + bias.
template <typename T>
void layer_norm_forward(Device device, const T* x, const T* weight, const T* bias, T* y, T* mean,
                        T* invstd, int64_t rows, int64_t d, double eps);
// gx = invstd * (gh - mean_j(gh) - xhat * mean_j(gh * xhat)), gh = g * weight.
template <typename T>
void layer_norm_backward_x(Device device, const T* x, const T* g, const T* mean, const T* invstd,
                           const T* weight, T* gx, int64_t rows, int64_t d);
// gw[j] = sum_r g[r, j] xhat[r, j], gb[j] = sum_r g[r, j]: per-chunk partial sums, then a fixed-
// order sum of the chunks (no atomics: deterministic). Scratch from the engine allocator.
template <typename T>
void layer_norm_backward_params(Device device, const T* x, const T* g, const T* mean,
                                const T* invstd, T* gw, T* gb, int64_t rows, int64_t d);

}  // namespace nkd::ops::gpu
