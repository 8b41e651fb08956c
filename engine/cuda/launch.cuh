// Kernel launch helpers with 64-bit indexing. launch(n, f, stream) runs an NKD_HD functor f(i) for
// every i in [0, n) with a grid-stride loop: the same functors cpu::launch runs on the host.
// Include only from .cu files.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/check.h"

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

// Queues f(i), i in [0, n), on `stream`; checks the launch.
template <typename F>
void launch(int64_t n, const F& f, cudaStream_t stream) {
  if (n <= 0) return;
  flat_kernel<F><<<grid_size(n), kBlockSize, 0, stream>>>(n, f);
  NKD_CUDA_CHECK_LAUNCH();
}

}  // namespace nkd::cuda
