// Team-per-row helpers of the row kernels (softmax_cuda.cu, layer_norm_cuda.cu): a team is one
// warp (rows up to kWarpRowMax elements) or one whole block (longer rows) and walks rows
// first(), first() + count(), ...; allreduce gives every thread of the team the same value, combined
// in a fixed order (deterministic). Include only from .cu files.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/launch.cuh"

namespace nkd::ops::gpu::rows {

inline constexpr int kWarp = 32;
inline constexpr int kRowBlock = 256;         // threads per block for both team sizes
inline constexpr int64_t kWarpRowMax = 1024;  // longer rows get a whole block

template <int kTeam>
struct Team {
  static_assert(kTeam == kWarp || kTeam == kRowBlock, "a team is a warp or a block");
  static constexpr int kPerBlock = kRowBlock / kTeam;
  static constexpr int kWarps = kTeam / kWarp;

  __device__ static int rank() { return static_cast<int>(threadIdx.x) % kTeam; }
  __device__ static int64_t first() {
    return static_cast<int64_t>(blockIdx.x) * kPerBlock + static_cast<int64_t>(threadIdx.x) / kTeam;
  }
  __device__ static int64_t count() { return static_cast<int64_t>(gridDim.x) * kPerBlock; }

  // op over the team's values; `shared` holds kRowBlock / kWarp values (used by block teams).
  // Every thread of a block team must call it (it has barriers).
  template <typename A, typename Op>
  __device__ static A allreduce(A v, Op op, A* shared) {
    for (int d = kWarp / 2; d > 0; d /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, d));
    if constexpr (kWarps > 1) {
      if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = v;
      __syncthreads();
      v = shared[0];
      for (int w = 1; w < kWarps; ++w) v = op(v, shared[w]);
      __syncthreads();  // shared is reused by the next reduction
    }
    return v;
  }
};

struct SumOp {
  template <typename A>
  __device__ A operator()(A a, A b) const {
    return a + b;
  }
};

// Blocks of kRowBlock threads for `rows` rows with teams of `team` threads.
inline unsigned grid_for(int64_t rows, int team) {
  const int64_t per_block = kRowBlock / team;
  const int64_t blocks = (rows + per_block - 1) / per_block;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, cuda::kMaxGridSize));
}

}  // namespace nkd::ops::gpu::rows
