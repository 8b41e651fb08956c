// Definitions of the GPU launchers declared in engine/launch.h, and NKD_GPU_LAUNCHABLE(F) /
// NKD_GPU_VEC_LAUNCHABLE(T, F): the explicit instantiations that a family's .cu file writes once
// per functor type its .cpp launches
// (a missing one is a link error of the CUDA build, never a silent CPU fallback). Include only
// from .cu files.
#pragma once
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/row_team.cuh"
#include "engine/launch.h"

namespace nkd::gpu {

inline constexpr int kRowBlock = 64;

template <typename F>
__global__ void __launch_bounds__(kRowBlock) row_kernel(int64_t n, F f) {
  for (int64_t r = cuda::global_index(); r < n; r += cuda::global_stride()) f(r);
}

template <typename F>
void launch_flat(Device device, int64_t n, const F& f) {
  const cuda::DeviceGuard guard(device.index);
  cuda::launch(n, f, cuda::context(device.index).compute_stream());
}

// A functor with a team form gets a warp or a block per row from RowTeams' sizes (engine/launch.h).
template <typename F>
void launch_rows(Device device, int64_t n, int64_t cols, const F& f) {
  if (n <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  if constexpr (RowTeamFunctor<F>) {
    const RowTeams teams = row_teams();
    if (cols >= teams.block_min_cols && cols >= teams.min_cols) return launch_row_teams<kTeamBlock>(n, f, stream);
    if (cols >= teams.min_cols) return launch_row_teams<row_team::kWarp>(n, f, stream);
  }
  row_kernel<F><<<cuda::grid_size(n, kRowBlock), kRowBlock, 0, stream>>>(n, f);
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T, typename F>
void launch_vec(Device device, int64_t n, const F& f, bool aligned) {
  const cuda::DeviceGuard guard(device.index);
  cuda::launch_vec<T>(n, f, aligned, cuda::context(device.index).compute_stream());
}

}  // namespace nkd::gpu

// Both launchers of engine/launch.h for functor type F (write at global scope; F fully qualified).
#define NKD_GPU_LAUNCHABLE(...)                                                                      \
  template void nkd::gpu::launch_flat<__VA_ARGS__>(nkd::Device, int64_t, const __VA_ARGS__&);          \
  template void nkd::gpu::launch_rows<__VA_ARGS__>(nkd::Device, int64_t, int64_t, const __VA_ARGS__&);

// gpu::launch_vec of engine/launch.h for element type T and functor type F.
#define NKD_GPU_VEC_LAUNCHABLE(T, ...) \
  template void nkd::gpu::launch_vec<T, __VA_ARGS__>(nkd::Device, int64_t, const __VA_ARGS__&, bool);
