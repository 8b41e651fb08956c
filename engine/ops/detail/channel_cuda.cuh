// The per-channel GPU machinery that batch norm (batch_norm_cuda.cu) and conv2d's bias
// (conv_cuda.cu) share, on x viewed as contiguous [N, C, L] (detail/channels.h):
//   1. partial sums: block (k, c) reduces chunk k of channel c's N L elements into two doubles
//      (several blocks per channel, so that a few channels still fill the GPU);
//   2. (the caller's finish kernel: one thread per channel adds its chunks in order, chunk_totals);
//   3. an elementwise pass per channel, 16-byte Packs where the rows allow, 32-bit index arithmetic
//      where the tensor allows.
// Include only from .cu files.
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/bf16.h"
#include "engine/cuda/launch.cuh"
#include "engine/ops/detail/channels.h"

namespace nkd::ops::gpu::channel {


inline constexpr int kWarp = 32;
inline constexpr int kSumBlock = 256;    // threads of a partial-sum block
inline constexpr int kUnroll = 4;        // loads in flight per thread in the partial sums
inline constexpr int kFinishBlock = 128;
inline constexpr int64_t kMaxGridY = 65535;

// The sum of v over the block, returned to every thread. All threads must call it.
__device__ inline double block_sum(double v) {
  __shared__ double part[kSumBlock / kWarp];
  __shared__ double total;
  const int lane = static_cast<int>(threadIdx.x) % kWarp, warp = static_cast<int>(threadIdx.x) / kWarp;
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x) / kWarp ? part[lane] : 0.0;
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) total = v;
  }
  __syncthreads();
  const double r = total;
  __syncthreads();  // part and total are reused by the next call
  return r;
}

// ---- step 1: partial sums per (chunk, channel) ------------------------------------------------

enum class Terms {
  Shifted,  // a += x - K, b += (x - K)^2 with K = x[0, c, 0]
  Grad,     // a += g, b += g (x - mean[c])
  Plain,    // a += x
};

// Chunk k = blockIdx.x of channel c holds the elements j in [k per, (k + 1) per) of the channel's
// j = n L + l order; part[(c chunks + k) * 2 + {0, 1}] receives (a, b).
template <typename T, Terms kTerms>
__global__ void __launch_bounds__(kSumBlock, 4)  // 4 blocks per SM: 64 registers
    partial_sums_kernel(ChannelShape s, int64_t per, const T* x, const T* g, const compute_t<T>* mean,
                        double* part) {
  const int64_t M = s.N * s.L, CL = s.C * s.L, B = blockDim.x;
  const int64_t qB = B / s.L, rB = B - qB * s.L;  // a step of B elements: qB planes and rB
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * per, j1 = j0 + per < M ? j0 + per : M;
  for (int64_t c = blockIdx.y; c < s.C; c += gridDim.y) {
    double center = 0;
    if constexpr (kTerms == Terms::Shifted) center = static_cast<double>(x[c * s.L]);
    if constexpr (kTerms == Terms::Grad) center = static_cast<double>(mean[c]);
    double a = 0, b = 0;
    int64_t j = j0 + threadIdx.x;
    int64_t l = j % s.L;
    int64_t off = ((j / s.L) * s.C + c) * s.L + l;  // x[n, c, l] for j = n L + l
    for (; j < j1; j += kUnroll * B) {
      double xv[kUnroll], gv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const bool in = j + u * B < j1;  // a masked element adds exactly zero
        xv[u] = in ? static_cast<double>(x[off]) : center;
        if constexpr (kTerms == Terms::Grad) gv[u] = in ? static_cast<double>(g[off]) : 0.0;
        l += rB;
        off += qB * CL + rB;
        if (l >= s.L) {
          l -= s.L;
          off += CL - s.L;
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if constexpr (kTerms == Terms::Shifted) {
          const double d = xv[u] - center;
          a += d;
          b += d * d;
        } else if constexpr (kTerms == Terms::Grad) {
          a += gv[u];
          b += gv[u] * (xv[u] - center);
        } else {
          a += xv[u];
        }
      }
    }
    a = block_sum(a);
    if constexpr (kTerms != Terms::Plain) b = block_sum(b);
    if (threadIdx.x == 0) {
      part[(c * gridDim.x + blockIdx.x) * 2] = a;
      part[(c * gridDim.x + blockIdx.x) * 2 + 1] = b;
    }
  }
}

// The chunks of the partial sums of s (see channel_scratch_doubles) and their length.
struct Chunks {
  int64_t count, per;
};
inline Chunks chunks_of(const ChannelShape& s) {
  const int64_t M = s.N * s.L, count = reduction_chunks(s);
  return {count, std::max<int64_t>(1, (M + count - 1) / count)};
}

template <typename T, Terms kTerms>
void partial_sums(const ChannelShape& s, const Chunks& ch, const T* x, const T* g, const compute_t<T>* mean,
                  double* part, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(ch.count),
                  static_cast<unsigned>(std::clamp<int64_t>(s.C, 1, kMaxGridY)));
  partial_sums_kernel<T, kTerms><<<grid, kSumBlock, 0, stream>>>(s, ch.per, x, g, mean, part);
  NKD_CUDA_CHECK_LAUNCH();
}

// Sums of channel c's chunks, in chunk order.
__device__ __forceinline__ void chunk_totals(const double* part, int64_t c, int64_t chunks,
                                             double& a, double& b) {
  a = b = 0;
  for (int64_t k = 0; k < chunks; ++k) {
    a += part[(c * chunks + k) * 2];
    b += part[(c * chunks + k) * 2 + 1];
  }
}

inline unsigned finish_grid(int64_t C) {
  return static_cast<unsigned>(std::max<int64_t>(1, (C + kFinishBlock - 1) / kFinishBlock));
}

// ---- step 3: elementwise per channel ----------------------------------------------------------

// Calls f.template run<V>(i, c) for every group of V consecutive elements i.. of [N, C, L] (V
// divides L, so a group lies in one channel c). Idx: uint32_t when the tensor allows, else int64_t.
template <int V, typename Idx, typename F>
__global__ void __launch_bounds__(cuda::kBlockSize)
    per_channel_kernel(Idx groups, Idx L, Idx C, F f) {
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx gi = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; gi < groups; gi += stride) {
    const Idx i = gi * V;
    f.template run<V>(static_cast<int64_t>(i), static_cast<int64_t>((i / L) % C));
  }
}

template <int V, typename F>
void launch_groups(const ChannelShape& s, const F& f, cudaStream_t stream) {
  const int64_t groups = s.N * s.C * s.L / V;
  const unsigned grid = cuda::grid_size(groups);
  if (s.N * s.C * s.L < (int64_t{1} << 31))
    per_channel_kernel<V, uint32_t, F><<<grid, cuda::kBlockSize, 0, stream>>>(
        static_cast<uint32_t>(groups), static_cast<uint32_t>(s.L), static_cast<uint32_t>(s.C), f);
  else
    per_channel_kernel<V, int64_t, F><<<grid, cuda::kBlockSize, 0, stream>>>(groups, s.L, s.C, f);
  NKD_CUDA_CHECK_LAUNCH();
}

// Runs f over [N, C, L] with 16-byte accesses when L and every pointer allow, else one element at
// a time.
template <typename T, typename F>
void launch_per_channel(const ChannelShape& s, const F& f, bool aligned, cudaStream_t stream) {
  if (s.N * s.C * s.L <= 0) return;
  constexpr int kVec = cuda::kVecOf<T>;
  if (aligned && s.L % kVec == 0)
    launch_groups<kVec>(s, f, stream);
  else
    launch_groups<1>(s, f, stream);
}

}  // namespace nkd::ops::gpu::channel
