// Launchers of batch norm on CUDA devices (batch_norm_cuda.cu), called by norm.cpp, plus the two
// per-channel helpers conv2d's bias uses (conv.cpp). x is viewed as contiguous [N, C, L] (channel
// c = N runs of L elements); T is float or double; statistics and sums accumulate in double, as on
// the CPU. Each launcher queues work on the device's compute stream; the caller allocates every
// buffer, scratch included. CUDA-free header; without CUDA,
// engine/cuda/no_cuda/conv_pool_norm_stub.cpp defines them to throw "built without CUDA".
#pragma once
#include <cstdint>

#include "engine/device.h"

namespace nkd::ops::gpu {

struct BatchNormShape {
  int64_t N = 0, C = 0, L = 1;
};

// Training: batch mean and biased variance per channel (two passes); when rm_new / rv_new are not
// null they receive the updated running statistics computed from rm_old / rv_old (unbiased
// variance for rv). Inference: rm_old / rv_old are the statistics. Writes mean, invstd [C] (T, for
// backward), y [N, C, L]. w, b [C] or null. scratch: [2 C] doubles.
template <typename T>
void batch_norm_forward(Device device, const BatchNormShape& s, bool training, double eps,
                        double momentum, const T* x, const T* rm_old, const T* rv_old, T* rm_new,
                        T* rv_new, const T* w, const T* b, T* y, T* mean, T* invstd,
                        double* scratch);

// gx [N, C, L] (training or inference form), gw = sum g xhat, gb = sum g per channel; each output
// may be null. scratch: [3 C] doubles.
template <typename T>
void batch_norm_backward(Device device, const BatchNormShape& s, bool training, const T* x,
                         const T* g, const T* mean, const T* invstd, const T* w, T* gx, T* gw,
                         T* gb, double* scratch);

// out[c] = sum over n, l of x[n, c, l] (in double): conv2d's bias gradient.
template <typename T>
void channel_sum(Device device, const BatchNormShape& s, const T* x, T* out);
// y[n, c, l] += b[c]: conv2d's bias.
template <typename T>
void add_channel_bias(Device device, const BatchNormShape& s, T* y, const T* b);

}  // namespace nkd::ops::gpu
