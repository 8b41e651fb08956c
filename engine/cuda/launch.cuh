// Kernel launch helpers with 64-bit indexing. launch(n, f, stream) runs an NKD_HD functor f(i) for
// every i in [0, n) with a grid-stride loop: the same functors cpu::launch runs on the host.
// launch_vec(n, f, aligned, stream) runs f.template run<V>(i) over groups of V elements with one
// 16-byte access per operand (Pack, engine/pack.h), for the memory-bound contiguous kernels.
// Include only from .cu files.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/check.h"
#include "engine/pack.h"

namespace nkd::cuda {

inline constexpr int kBlockSize = 256;
// Blocks at most; the grid-stride loop covers the rest.
inline constexpr int64_t kMaxGridSize = int64_t{1} << 20;

// Blocks of `block` threads covering n elements, capped at kMaxGridSize (and at least 1).
inline unsigned grid_size(int64_t n, int block = kBlockSize) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, kMaxGridSize));
}

__device__ __forceinline__ int64_t global_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t global_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

template <typename F>
__global__ void __launch_bounds__(kBlockSize) flat_kernel(int64_t n, F f) {
  for (int64_t i = global_index(); i < n; i += global_stride()) f(i);
}

// The packs of engine/pack.h, by their names in this namespace.
using nkd::aligned16;
using nkd::kVecOf;
using nkd::load_pack;
using nkd::Pack;
using nkd::store_pack;

// f.template run<V>(i) for i = 0, V, 2 V, ... below n - n % V, then f.template run<1>(i) for the
// n % V last elements.
template <int V, typename F>
__global__ void __launch_bounds__(kBlockSize) vec_kernel(int64_t n, F f) {
  const int64_t body = n - n % V;
  for (int64_t i = global_index() * V; i < body; i += global_stride() * V) f.template run<V>(i);
  const int64_t tail = body + global_index();
  if (tail < n) f.template run<1>(tail);
}

// Queues f over [0, n) with Packs of kVecOf<T> elements when `aligned` (every operand's pointer
// 16-byte aligned: see aligned16), else one element at a time; checks the launch.
template <typename T, typename F>
void launch_vec(int64_t n, const F& f, bool aligned, cudaStream_t stream) {
  if (n <= 0) return;
  constexpr int kVec = kVecOf<T>;
  if (aligned && kVec > 1) {
    vec_kernel<kVec, F><<<grid_size((n + kVec - 1) / kVec), kBlockSize, 0, stream>>>(n, f);
  } else {
    vec_kernel<1, F><<<grid_size(n), kBlockSize, 0, stream>>>(n, f);
  }
  NKD_CUDA_CHECK_LAUNCH();
}

// Queues f(i), i in [0, n), on `stream`; checks the launch.
template <typename F>
void launch(int64_t n, const F& f, cudaStream_t stream) {
  if (n <= 0) return;
  flat_kernel<F><<<grid_size(n), kBlockSize, 0, stream>>>(n, f);
  NKD_CUDA_CHECK_LAUNCH();
}

}  // namespace nkd::cuda
