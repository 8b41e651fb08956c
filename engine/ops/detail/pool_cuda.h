// Launchers of the pooling forwards on CUDA devices (pool_cuda.cu: the per-cell functors of
// pool_math.h, and a warp-per-plane mean), called by pool.cpp only under
// `if constexpr (kBuiltWithCuda)`: a CPU-only build needs no definition. Buffers are contiguous
// device memory; T is in NKD_ALL_FLOAT_TYPES (BF16 natively: sums in double, one rounding). Each launcher queues work on the compute stream.
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/ops/detail/pool_math.h"

namespace nkd::ops::gpu {

// y [planes, P, Q]; idx [planes, P, Q] (flat h W + w of each window's first maximum) or null.
template <typename T>
void max_pool2d_forward(Device device, const pool::Geom& g, const T* x, T* y, int64_t* idx);
// avg_pool2d (adaptive false) or adaptive_avg_pool2d (adaptive true).
template <typename T>
void avg_pool2d_forward(Device device, const pool::Geom& g, bool adaptive, bool include_pad,
                        const T* x, T* y);
// y [planes] = the mean of each plane of x [planes, H W] (accumulated in double for float).
template <typename T>
void global_avg_pool_forward(Device device, const pool::Geom& g, const T* x, T* y);

}  // namespace nkd::ops::gpu
