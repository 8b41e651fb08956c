// Pooling on the GPU: the NKD_HD functors of detail/pool_math.h (one thread per output cell
// forward; the backward functor, one per input element, gather-style: deterministic, no atomics,
// is launched by nkd::launch and instantiated here) and a warp-per-plane reduction for the global
// average.
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/pool_cuda.h"

namespace nkd::ops::gpu {
namespace {

constexpr int kWarp = 32;

// One warp per plane: the plane's sum (double for float and bf16) divided by H W, as the CPU does.
template <typename T>
__global__ void __launch_bounds__(cuda::kBlockSize)
    plane_mean_kernel(const T* x, T* y, int64_t planes, int64_t hw) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int64_t warps = cuda::global_stride() / kWarp;
  for (int64_t o = cuda::global_index() / kWarp; o < planes; o += warps) {
    const T* row = x + o * hw;
    pool::Acc<T> s = 0;
    for (int64_t i = lane; i < hw; i += kWarp) s += row[i];
    for (int d = kWarp / 2; d > 0; d /= 2) s += __shfl_down_sync(0xffffffffu, s, d);
    if (lane == 0) y[o] = static_cast<T>(s / static_cast<pool::Acc<T>>(hw));
  }
}

cudaStream_t stream_of(Device device) { return cuda::context(device.index).compute_stream(); }

}  // namespace

template <typename T>
void max_pool2d_forward(Device device, const pool::Geom& g, const T* x, T* y, int64_t* idx) {
  const cuda::DeviceGuard guard(device.index);
  const pool::PerCell<pool::MaxPoolFwd<T>> f{{g, x, y, idx}};
  cuda::launch(g.planes * g.out_plane(), f, stream_of(device));
}

template <typename T>
void avg_pool2d_forward(Device device, const pool::Geom& g, bool adaptive, bool include_pad,
                        const T* x, T* y) {
  const cuda::DeviceGuard guard(device.index);
  const pool::PerCell<pool::AvgPoolFwd<T>> f{{g, adaptive, include_pad, x, y}};
  cuda::launch(g.planes * g.out_plane(), f, stream_of(device));
}

template <typename T>
void global_avg_pool_forward(Device device, const pool::Geom& g, const T* x, T* y) {
  if (g.planes <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const int64_t per_block = cuda::kBlockSize / kWarp;
  const auto grid = static_cast<unsigned>(
      std::min<int64_t>((g.planes + per_block - 1) / per_block, cuda::kMaxGridSize));
  plane_mean_kernel<T><<<grid, cuda::kBlockSize, 0, stream_of(device)>>>(x, y, g.planes,
                                                                         g.in_plane());
  NKD_CUDA_CHECK_LAUNCH();
}

#define NKD_INSTANTIATE_POOL(T, D)                                                             \
  template void max_pool2d_forward<T>(Device, const pool::Geom&, const T*, T*, int64_t*);      \
  template void avg_pool2d_forward<T>(Device, const pool::Geom&, bool, bool, const T*, T*);    \
  template void global_avg_pool_forward<T>(Device, const pool::Geom&, const T*, T*);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_POOL)

}  // namespace nkd::ops::gpu

#define NKD_POOL_BACKWARD_LAUNCHABLE(T, D) NKD_GPU_LAUNCHABLE(nkd::ops::pool::PoolBwd<T>)
NKD_ALL_FLOAT_TYPES(NKD_POOL_BACKWARD_LAUNCHABLE)
