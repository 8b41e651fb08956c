// Launchers of conv2d on CUDA devices, called by conv.cpp: cuDNN forward, backward-data and
// backward-filter (conv_cudnn.cpp) with an algorithm searched once per (shape, dtype, direction,
// math mode) and cached. Pointers are contiguous NCHW / KCRS device buffers; T is float or double.
// Each launcher queues work on the device's compute stream. CUDA-free header; without CUDA,
// engine/cuda/no_cuda/conv_pool_norm_stub.cpp defines them to throw "built without CUDA".
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/ops/conv_cpu.h"

namespace nkd::ops::gpu {

// y [N, K, P, Q] = conv(x [N, C, H, W], w [K, C/G, R, S]); overwrites y (no bias).
template <typename T>
void conv2d_forward(Device device, const detail::ConvGeom& g, const T* x, const T* w, T* y);
// dx [N, C, H, W] from dy [N, K, P, Q] and w; overwrites dx.
template <typename T>
void conv2d_backward_data(Device device, const detail::ConvGeom& g, const T* dy, const T* w, T* dx);
// dw [K, C/G, R, S] from dy [N, K, P, Q] and x; overwrites dw.
template <typename T>
void conv2d_backward_filter(Device device, const detail::ConvGeom& g, const T* dy, const T* x,
                            T* dw);

// The algorithm cache: distinct keys held, searches run (misses) and lookups served (hits).
struct ConvAlgoCacheStats {
  int64_t entries = 0, searches = 0, hits = 0;
};
ConvAlgoCacheStats conv_algo_cache_stats();
void clear_conv_algo_cache();

}  // namespace nkd::ops::gpu
