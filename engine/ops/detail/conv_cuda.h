// Launchers of conv2d on CUDA devices, called by conv.cpp only under `if constexpr
// (kBuiltWithCuda)` (a CPU-only build needs no definition): cuDNN forward, backward-data and
// backward-filter (conv_cudnn.cpp) with an algorithm searched once per (shape, dtype, direction,
// math mode) and cached, and the bias add and bias gradient (conv_cuda.cu). Pointers are
// contiguous NCHW / KCRS device buffers; T is in NKD_FLOAT_TYPES. Each launcher queues work on the
// device's compute stream.
#pragma once
#include <cstdint>

#include "engine/config.h"
#include "engine/device.h"
#include "engine/ops/detail/channels.h"
#include "engine/ops/detail/conv_cpu.h"

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
ConvAlgoCacheStats cudnn_algo_cache_stats();  // conv_cudnn.cpp
void clear_cudnn_algo_cache();
// Both build kinds: without CUDA the cache is empty and clearing it does nothing.
inline ConvAlgoCacheStats conv_algo_cache_stats() {
  if constexpr (kBuiltWithCuda) return cudnn_algo_cache_stats();
  return {};
}
inline void clear_conv_algo_cache() {
  if constexpr (kBuiltWithCuda) clear_cudnn_algo_cache();
}

// out[c] = sum over n, l of x[n, c, l] (in double): conv2d's bias gradient.
template <typename T>
void channel_sum(Device device, const ChannelShape& s, const T* x, T* out, double* scratch);
// y[n, c, l] += b[c]: conv2d's bias.
template <typename T>
void add_channel_bias(Device device, const ChannelShape& s, T* y, const T* b);

}  // namespace nkd::ops::gpu
