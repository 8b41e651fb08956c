// Launchers of the pooling kernels (pool_kernels.h) on CUDA devices (pool_cuda.cu), called by
// pool.cpp. Buffers are contiguous device memory; T is float or double. Each launcher queues work
// on the device's compute stream. CUDA-free header; without CUDA,
// engine/cuda/no_cuda/conv_pool_norm_stub.cpp defines them to throw "built without CUDA".
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/ops/pool_kernels.h"

namespace nkd::ops::gpu {

// y [planes, P, Q]; idx [planes, P, Q] (flat h W + w of each window's first maximum) or null.
template <typename T>
void max_pool2d_forward(Device device, const pool::Geom& g, const T* x, T* y, int64_t* idx);
// avg_pool2d (adaptive false) or adaptive_avg_pool2d (adaptive true).
template <typename T>
void avg_pool2d_forward(Device device, const pool::Geom& g, bool adaptive, bool include_pad,
                        const T* x, T* y);
// gx [planes, H, W] from gy [planes, P, Q] (idx for Kind::Max); overwrites gx. Global pooling
// (Kind::Global) has P = Q = 1.
template <typename T>
void pool2d_backward(Device device, pool::Kind kind, const pool::Geom& g, bool include_pad,
                     const T* gy, const int64_t* idx, T* gx);
// y [planes] = the mean of each plane of x [planes, H W] (accumulated in double for float).
template <typename T>
void global_avg_pool_forward(Device device, const pool::Geom& g, const T* x, T* y);

}  // namespace nkd::ops::gpu
