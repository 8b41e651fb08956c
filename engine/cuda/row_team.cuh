// The GPU team of a row functor's team form (engine/row_team.h): one warp (kTeam = 32) or one
// 256-thread block (kTeam = 256) per row. Thread l of a team takes columns l, l + kTeam, ... (adjacent
// threads on adjacent addresses: coalesced loads); a reduction combines the threads' values with an
// xor butterfly in each warp, then the warps' values in order through shared memory, so every thread
// gets the same, deterministic result (LanesRow<kTeam> is this order on the CPU). Include only from
// .cu files (engine/cuda/launch_functor.cuh).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/launch.cuh"
#include "engine/row_team.h"

namespace nkd::gpu {

inline constexpr int kTeamBlock = 256;  // threads per block, for both team sizes

// Bytes of shared memory a block team needs for one reduction (the largest value: ArgBest<double>).
inline constexpr int kTeamShared = (kTeamBlock / row_team::kWarp) * int(sizeof(row_team::ArgBest<double>));

// Methods are __host__ __device__ so the NKD_HD row functions can call them; they run on the device
// only (the host never instantiates a launch with a CudaRowTeam).
template <int kTeam>
class CudaRowTeam {
  static_assert(kTeam == row_team::kWarp || kTeam == kTeamBlock, "a team is a warp or a block");
  static constexpr int kWarps = kTeam / row_team::kWarp;

 public:
  static constexpr int kPerBlock = kTeamBlock / kTeam;

  NKD_HD explicit CudaRowTeam(unsigned char* shared) : shared_(shared) {}

  NKD_HD static int rank() {
#if defined(__CUDA_ARCH__)
    return static_cast<int>(threadIdx.x) % kTeam;
#else
    return 0;
#endif
  }
  NKD_HD static bool leader() { return rank() == 0; }

  template <typename F>
  NKD_HD RowValueOf<F> sum(int64_t n, const F& f) const {
    RowValueOf<F> s = 0;
    for (int64_t j = rank(); j < n; j += kTeam) s += f(j);
    return allreduce(s, row_team::SumOp{});
  }
  template <typename F>
  NKD_HD RowValueOf<F> max(int64_t n, const F& f) const {
    using A = RowValueOf<F>;
    A m = -static_cast<A>(HUGE_VAL);
    for (int64_t j = rank(); j < n; j += kTeam) m = row_team::fold_max(m, static_cast<A>(f(j)));
    return allreduce(m, row_team::MaxOp{});
  }
  template <typename F>
  NKD_HD int64_t argmax(int64_t n, int64_t skip, const F& f) const {
    using A = RowValueOf<F>;
    const int64_t first = row_team::first_column(skip);
    row_team::ArgBest<A> b{A(0), n, -1};
    for (int64_t j = rank(); j < n; j += kTeam)
      if (j != skip) b = row_team::ArgOp{}(b, row_team::arg_candidate(static_cast<A>(f(j)), j, first));
    return allreduce(b, row_team::ArgOp{}).i;
  }
  template <typename F>
  NKD_HD void for_each(int64_t n, const F& f) const {
    for (int64_t j = rank(); j < n; j += kTeam) f(j);
  }

 private:
  template <typename A>
  NKD_HD static A shfl_xor(A v, int d) {
#if defined(__CUDA_ARCH__)
    return __shfl_xor_sync(0xffffffffu, v, d);
#else
    (void)d;
    return v;
#endif
  }
  template <typename A>
  NKD_HD static row_team::ArgBest<A> shfl_xor(const row_team::ArgBest<A>& v, int d) {
    return {shfl_xor(v.v, d), shfl_xor(v.i, d), shfl_xor(v.rank, d)};
  }

  // Every thread of the team must call it (a block team has barriers).
  template <typename A, typename Op>
  NKD_HD A allreduce(A v, Op op) const {
#if defined(__CUDA_ARCH__)
    for (int d = row_team::kWarp / 2; d > 0; d /= 2) v = op(v, shfl_xor(v, d));
    if constexpr (kWarps > 1) {
      static_assert(sizeof(A) * kWarps <= kTeamShared, "shared memory too small for this value");
      A* shared = reinterpret_cast<A*>(shared_);
      if (threadIdx.x % row_team::kWarp == 0) shared[threadIdx.x / row_team::kWarp] = v;
      __syncthreads();
      v = shared[0];
      for (int w = 1; w < kWarps; ++w) v = op(v, shared[w]);
      __syncthreads();  // the next reduction reuses shared
    }
#endif
    return v;
  }

  unsigned char* shared_;
};

// f.row(team, r) for r in [0, n), one team per row; blocks of kTeamBlock threads.
template <int kTeam, typename F>
__global__ void __launch_bounds__(kTeamBlock) row_team_kernel(int64_t n, F f) {
  __shared__ alignas(16) unsigned char shared[kTeamShared];
  using Team = CudaRowTeam<kTeam>;
  const Team tm(shared);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * Team::kPerBlock + threadIdx.x / kTeam;
  const int64_t step = static_cast<int64_t>(gridDim.x) * Team::kPerBlock;
  for (int64_t r = first; r < n; r += step) f.row(tm, r);  // uniform over a block team
}

// Queues row_team_kernel<kTeam> over n rows on `stream` and checks the launch.
template <int kTeam, typename F>
void launch_row_teams(int64_t n, const F& f, cudaStream_t stream) {
  constexpr int64_t per_block = kTeamBlock / kTeam;
  const int64_t blocks = std::clamp<int64_t>((n + per_block - 1) / per_block, 1, cuda::kMaxGridSize);
  row_team_kernel<kTeam, F><<<static_cast<unsigned>(blocks), kTeamBlock, 0, stream>>>(n, f);
  NKD_CUDA_CHECK_LAUNCH();
}

}  // namespace nkd::gpu
