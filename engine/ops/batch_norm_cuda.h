// Launchers of batch norm on CUDA devices (batch_norm_cuda.cu), called by norm.cpp, plus the two
// per-channel helpers conv2d's bias uses (conv.cpp). x is viewed as contiguous [N, C, L] (channel
// c = N runs of L elements); T is float or double; statistics and sums accumulate in double, as on
// the CPU. Each launcher queues work on the device's compute stream; the caller allocates every
// buffer, scratch included (batch_norm_scratch_doubles). CUDA-free header; without CUDA,
// engine/cuda/no_cuda/conv_pool_norm_stub.cpp defines them to throw "built without CUDA".
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/device.h"

namespace nkd::ops::gpu {

struct BatchNormShape {
  int64_t N = 0, C = 0, L = 1;
};

// The per-channel reductions split each channel's N L elements into this many chunks, one block
// each: about 1024 blocks in all (so that a few channels still fill the GPU), chunks of at least
// 2048 elements, at most 1024 chunks. The result depends on the shape only (deterministic sums).
inline int64_t reduction_chunks(const BatchNormShape& s) {
  const int64_t M = s.N * s.L;
  const int64_t by_size = std::max<int64_t>(1, (M + 2047) / 2048);
  const int64_t by_grid = std::max<int64_t>(1, (1024 + s.C - 1) / std::max<int64_t>(s.C, 1));
  const int64_t chunks = std::min({by_size, by_grid, int64_t{1024}});
  const int64_t per = std::max<int64_t>(1, (M + chunks - 1) / chunks);
  return std::max<int64_t>(1, (M + per - 1) / per);  // no empty chunk
}

// Doubles of scratch every launcher below needs: two partial sums per chunk and channel, then up
// to three coefficients per channel.
inline int64_t batch_norm_scratch_doubles(const BatchNormShape& s) {
  return 2 * s.C * reduction_chunks(s) + 3 * s.C;
}

// Training: batch mean and biased variance per channel (one shifted pass); when rm_new / rv_new are not
// null they receive the updated running statistics computed from rm_old / rv_old (unbiased
// variance for rv). Inference: rm_old / rv_old are the statistics. Writes mean, invstd [C] (T, for
// backward), y [N, C, L]. w, b [C] or null.
template <typename T>
void batch_norm_forward(Device device, const BatchNormShape& s, bool training, double eps,
                        double momentum, const T* x, const T* rm_old, const T* rv_old, T* rm_new,
                        T* rv_new, const T* w, const T* b, T* y, T* mean, T* invstd,
                        double* scratch);

// gx [N, C, L] (training or inference form), gw = sum g xhat, gb = sum g per channel; each output
// may be null.
template <typename T>
void batch_norm_backward(Device device, const BatchNormShape& s, bool training, const T* x,
                         const T* g, const T* mean, const T* invstd, const T* w, T* gx, T* gw,
                         T* gb, double* scratch);

// out[c] = sum over n, l of x[n, c, l] (in double): conv2d's bias gradient.
template <typename T>
void channel_sum(Device device, const BatchNormShape& s, const T* x, T* out, double* scratch);
// y[n, c, l] += b[c]: conv2d's bias.
template <typename T>
void add_channel_bias(Device device, const BatchNormShape& s, T* y, const T* b);

}  // namespace nkd::ops::gpu
