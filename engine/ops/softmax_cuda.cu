// Softmax / log-softmax on the GPU. Rows along the last dim (inner = 1): one warp per row up to
// 1024 elements, one 256-thread block per row above; max-subtracted, sums in SoftmaxAcc (double
// for float, as on the CPU), the per-element formulas of softmax_math.h. Rows along another dim
// (strided): one thread per row running the CPU's functor (detail/softmax_math.h), which keeps
// neighbouring threads on neighbouring addresses.
#include <cmath>

#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/row_team.cuh"
#include "engine/ops/detail/softmax_cuda.h"

namespace nkd::ops::gpu {
namespace {

using rows::kRowBlock;
using rows::kWarp;
using rows::Team;

struct NanMaxOp {
  template <typename A>
  __device__ A operator()(A a, A b) const {
    return math::nan_max(a, b);
  }
};

// x, y [rows, n]; one team per row.
template <int kTeam, typename T, bool kLog>
__global__ void __launch_bounds__(kRowBlock)
    softmax_fwd_rows(const T* x, T* y, int64_t nrows, int64_t n) {
  using Acc = math::SoftmaxAcc<T>;
  using Tm = Team<kTeam>;
  __shared__ Acc shared[kRowBlock / kWarp];
  for (int64_t r = Tm::first(); r < nrows; r += Tm::count()) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    Acc m = static_cast<Acc>(-INFINITY);
    for (int64_t j = Tm::rank(); j < n; j += kTeam) m = math::nan_max(m, static_cast<Acc>(xr[j]));
    m = Tm::allreduce(m, NanMaxOp{}, shared);
    Acc s = 0;
    for (int64_t j = Tm::rank(); j < n; j += kTeam) s += math::exp_shifted(xr[j], m);
    s = Tm::allreduce(s, rows::SumOp{}, shared);
    if constexpr (kLog) {
      const Acc lse = m + log(s);
      for (int64_t j = Tm::rank(); j < n; j += kTeam) yr[j] = math::log_softmax_value(xr[j], lse);
    } else {
      const Acc inv = Acc(1) / s;
      for (int64_t j = Tm::rank(); j < n; j += kTeam) yr[j] = math::softmax_value(xr[j], m, inv);
    }
  }
}

// g, y, gx [rows, n]; one team per row. softmax: s = sum g y; log_softmax: s = sum g.
template <int kTeam, typename T, bool kLog>
__global__ void __launch_bounds__(kRowBlock)
    softmax_bwd_rows(const T* g, const T* y, T* gx, int64_t nrows, int64_t n) {
  using Acc = math::SoftmaxAcc<T>;
  using Tm = Team<kTeam>;
  __shared__ Acc shared[kRowBlock / kWarp];
  for (int64_t r = Tm::first(); r < nrows; r += Tm::count()) {
    const T* gr = g + r * n;
    const T* yr = y + r * n;
    T* gxr = gx + r * n;
    Acc s = 0;
    for (int64_t j = Tm::rank(); j < n; j += kTeam) {
      if constexpr (kLog) {
        s += static_cast<Acc>(gr[j]);
      } else {
        s += static_cast<Acc>(gr[j]) * static_cast<Acc>(yr[j]);
      }
    }
    s = Tm::allreduce(s, rows::SumOp{}, shared);
    for (int64_t j = Tm::rank(); j < n; j += kTeam) {
      if constexpr (kLog) {
        gxr[j] = math::log_softmax_grad(gr[j], yr[j], s);
      } else {
        gxr[j] = math::softmax_grad(gr[j], yr[j], s);
      }
    }
  }
}

cudaStream_t stream_of(Device device) { return cuda::context(device.index).compute_stream(); }

}  // namespace

template <typename T, bool kLog>
void softmax_forward(Device device, const math::SoftmaxGeometry& geo, const T* x, T* y) {
  if (geo.rows() <= 0 || geo.dim <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = stream_of(device);
  if (geo.inner != 1) {
    cuda::launch(geo.rows(), math::SoftmaxFwdKernel<T, kLog>{geo, x, y}, stream);
    return;
  }
  if (geo.dim <= rows::kWarpRowMax) {
    softmax_fwd_rows<kWarp, T, kLog>
        <<<rows::grid_for(geo.outer, kWarp), kRowBlock, 0, stream>>>(x, y, geo.outer, geo.dim);
  } else {
    softmax_fwd_rows<kRowBlock, T, kLog>
        <<<rows::grid_for(geo.outer, kRowBlock), kRowBlock, 0, stream>>>(x, y, geo.outer, geo.dim);
  }
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T, bool kLog>
void softmax_backward(Device device, const math::SoftmaxGeometry& geo, const T* g, const T* y, T* gx) {
  if (geo.rows() <= 0 || geo.dim <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = stream_of(device);
  if (geo.inner != 1) {
    cuda::launch(geo.rows(), math::SoftmaxBwdKernel<T, kLog>{geo, g, y, gx}, stream);
    return;
  }
  if (geo.dim <= rows::kWarpRowMax) {
    softmax_bwd_rows<kWarp, T, kLog>
        <<<rows::grid_for(geo.outer, kWarp), kRowBlock, 0, stream>>>(g, y, gx, geo.outer, geo.dim);
  } else {
    softmax_bwd_rows<kRowBlock, T, kLog>
        <<<rows::grid_for(geo.outer, kRowBlock), kRowBlock, 0, stream>>>(g, y, gx, geo.outer, geo.dim);
  }
  NKD_CUDA_CHECK_LAUNCH();
}

#define NKD_INSTANTIATE_SOFTMAX(T, D)                                                           \
  template void softmax_forward<T, false>(Device, const math::SoftmaxGeometry&, const T*, T*);    \
  template void softmax_forward<T, true>(Device, const math::SoftmaxGeometry&, const T*, T*);     \
  template void softmax_backward<T, false>(Device, const math::SoftmaxGeometry&, const T*,        \
                                           const T*, T*);                                        \
  template void softmax_backward<T, true>(Device, const math::SoftmaxGeometry&, const T*,         \
                                          const T*, T*);
NKD_FLOAT_TYPES(NKD_INSTANTIATE_SOFTMAX)

}  // namespace nkd::ops::gpu
