// Layer norm on the GPU. Forward and input gradient: one team per row (a warp up to 1024
// elements, a 256-thread block above), statistics two-pass in double as on the CPU, the formulas
// of layer_norm_math.h. Weight/bias gradients: column sums over all rows, deterministic in two
// passes: blocks of 32 columns x 8 row lanes sum a chunk of rows into double partials, then one
// thread per column adds the chunks in order. No atomics.
#include <algorithm>
#include <cmath>

#include "engine/cuda/allocator.h"
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/layer_norm_cuda.h"
#include "engine/ops/detail/layer_norm_math.h"
#include "engine/ops/detail/row_team.cuh"

namespace nkd::ops::gpu {
namespace {

using rows::kRowBlock;
using rows::kWarp;
using rows::Team;

// x, y [rows, d]; mean, invstd [rows]; w, b [d] or null.
template <int kTeam, typename T, typename P>
__global__ void __launch_bounds__(kRowBlock)
    ln_forward_rows(const T* x, const P* w, const P* b, T* y, P* mean, P* invstd, int64_t nrows,
                    int64_t d, double eps) {
  using Tm = Team<kTeam>;
  __shared__ double shared[kRowBlock / kWarp];
  for (int64_t r = Tm::first(); r < nrows; r += Tm::count()) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    double s = 0;
    for (int64_t j = Tm::rank(); j < d; j += kTeam) s += static_cast<double>(xr[j]);
    const double m = Tm::allreduce(s, rows::SumOp{}, shared) / static_cast<double>(d);
    double q = 0;
    for (int64_t j = Tm::rank(); j < d; j += kTeam) {
      const double e = static_cast<double>(xr[j]) - m;
      q += e * e;
    }
    const double var = Tm::allreduce(q, rows::SumOp{}, shared) / static_cast<double>(d);
    const double is = 1.0 / sqrt(var + eps);
    if (Tm::rank() == 0) {
      mean[r] = static_cast<P>(m);
      invstd[r] = static_cast<P>(is);
    }
    for (int64_t j = Tm::rank(); j < d; j += kTeam) yr[j] = math::ln_output(xr[j], m, is, w, b, j);
  }
}

// x, g, gx [rows, d]; mean, invstd [rows]; w [d] or null.
template <int kTeam, typename T, typename P>
__global__ void __launch_bounds__(kRowBlock)
    ln_backward_x_rows(const T* x, const T* g, const P* mean, const P* invstd, const P* w, T* gx,
                       int64_t nrows, int64_t d) {
  using Tm = Team<kTeam>;
  __shared__ double shared[kRowBlock / kWarp];
  for (int64_t r = Tm::first(); r < nrows; r += Tm::count()) {
    const T* xr = x + r * d;
    const T* gr = g + r * d;
    T* gxr = gx + r * d;
    const double m = static_cast<double>(mean[r]), is = static_cast<double>(invstd[r]);
    double sa = 0, sb = 0;
    for (int64_t j = Tm::rank(); j < d; j += kTeam) {
      const double gh = math::ln_gh(gr[j], w, j);
      sa += gh;
      sb += gh * (static_cast<double>(xr[j]) - m);
    }
    sa = Tm::allreduce(sa, rows::SumOp{}, shared);
    sb = Tm::allreduce(sb, rows::SumOp{}, shared);
    const double a = sa / static_cast<double>(d), bx = sb * is / static_cast<double>(d);
    for (int64_t j = Tm::rank(); j < d; j += kTeam)
      gxr[j] = math::ln_grad_x(math::ln_gh(gr[j], w, j), xr[j], m, is, a, bx);
  }
}

constexpr int kColTile = 32;  // columns per block (threadIdx.x)
constexpr int kRowLanes = 8;  // row lanes per block (threadIdx.y)

// Block (kColTile, kRowLanes) at (column tile blockIdx.x, chunk blockIdx.y): rows
// [chunk * rows_per_chunk, ...) of its columns into pw, pb [chunks, d].
template <typename T, typename P>
__global__ void __launch_bounds__(kColTile * kRowLanes)
    ln_params_partial(const T* x, const T* g, const P* mean, const P* invstd, int64_t nrows,
                      int64_t d, int64_t rows_per_chunk, double* pw, double* pb) {
  __shared__ double sw[kRowLanes][kColTile + 1], sb[kRowLanes][kColTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < nrows ? r0 + rows_per_chunk : nrows;
  double aw = 0, ab = 0;
  if (j < d) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      const double gv = static_cast<double>(g[r * d + j]);
      const double m = static_cast<double>(mean[r]), is = static_cast<double>(invstd[r]);
      aw += gv * math::ln_xhat(x[r * d + j], m, is);
      ab += gv;
    }
  }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && j < d) {
    for (int k = 1; k < kRowLanes; ++k) {
      aw += sw[k][threadIdx.x];
      ab += sb[k][threadIdx.x];
    }
    pw[static_cast<int64_t>(blockIdx.y) * d + j] = aw;
    pb[static_cast<int64_t>(blockIdx.y) * d + j] = ab;
  }
}

// gw[j] = sum_c pw[c, j], gb[j] = sum_c pb[c, j], c = 0, 1, ... in order; gw or gb may be null.
template <typename T>
struct ParamsFinal {
  const double* pw;  // [chunks, d]
  const double* pb;  // [chunks, d]
  T* gw;             // [d] or null
  T* gb;             // [d] or null
  int64_t chunks, d;
  __device__ void operator()(int64_t j) const {
    double aw = 0, ab = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      aw += pw[c * d + j];
      ab += pb[c * d + j];
    }
    if (gw) gw[j] = static_cast<T>(aw);
    if (gb) gb[j] = static_cast<T>(ab);
  }
};

// Device memory from the engine allocator, freed in stream order when the scope ends.
class Scratch {
 public:
  Scratch(size_t bytes, Device device) : device_(device), ptr_(cuda::allocate(bytes, device)) {}
  ~Scratch() { cuda::deallocate(ptr_, device_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  double* data() const { return static_cast<double*>(ptr_); }

 private:
  Device device_;
  void* ptr_;
};

cudaStream_t stream_of(Device device) { return cuda::context(device.index).compute_stream(); }

}  // namespace

template <typename T, typename P>
void layer_norm_forward(Device device, const T* x, const P* weight, const P* bias, T* y, P* mean,
                        P* invstd, int64_t nrows, int64_t d, double eps) {
  if (nrows <= 0 || d <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = stream_of(device);
  if (d <= rows::kWarpRowMax) {
    ln_forward_rows<kWarp, T, P><<<rows::grid_for(nrows, kWarp), kRowBlock, 0, stream>>>(
        x, weight, bias, y, mean, invstd, nrows, d, eps);
  } else {
    ln_forward_rows<kRowBlock, T, P><<<rows::grid_for(nrows, kRowBlock), kRowBlock, 0, stream>>>(
        x, weight, bias, y, mean, invstd, nrows, d, eps);
  }
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T, typename P>
void layer_norm_backward_x(Device device, const T* x, const T* g, const P* mean, const P* invstd,
                           const P* weight, T* gx, int64_t nrows, int64_t d) {
  if (nrows <= 0 || d <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = stream_of(device);
  if (d <= rows::kWarpRowMax) {
    ln_backward_x_rows<kWarp, T, P><<<rows::grid_for(nrows, kWarp), kRowBlock, 0, stream>>>(
        x, g, mean, invstd, weight, gx, nrows, d);
  } else {
    ln_backward_x_rows<kRowBlock, T, P><<<rows::grid_for(nrows, kRowBlock), kRowBlock, 0, stream>>>(
        x, g, mean, invstd, weight, gx, nrows, d);
  }
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T, typename P>
void layer_norm_backward_params(Device device, const T* x, const T* g, const P* mean,
                                const P* invstd, P* gw, P* gb, int64_t nrows, int64_t d) {
  if (d <= 0 || (gw == nullptr && gb == nullptr)) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = stream_of(device);
  // About 64 rows per chunk, at most 1024 chunks (blockIdx.y), at least one (rows = 0 gives 0).
  const int64_t chunks = std::clamp<int64_t>((nrows + 63) / 64, 1, 1024);
  const int64_t rows_per_chunk = std::max<int64_t>(1, (nrows + chunks - 1) / chunks);
  const Scratch scratch(sizeof(double) * 2 * static_cast<size_t>(chunks * d), device);
  double* pw = scratch.data();   // [chunks, d]
  double* pb = pw + chunks * d;  // [chunks, d]
  const dim3 grid(static_cast<unsigned>((d + kColTile - 1) / kColTile),
                  static_cast<unsigned>(chunks));
  ln_params_partial<T, P><<<grid, dim3(kColTile, kRowLanes), 0, stream>>>(
      x, g, mean, invstd, nrows, d, rows_per_chunk, pw, pb);
  NKD_CUDA_CHECK_LAUNCH();
  cuda::launch(d, ParamsFinal<P>{pw, pb, gw, gb, chunks, d}, stream);
}

#define NKD_INSTANTIATE_LAYER_NORM(T, D)                                                                \
  template void layer_norm_forward<T, compute_t<T>>(Device, const T*, const compute_t<T>*,                \
                                                    const compute_t<T>*, T*, compute_t<T>*, compute_t<T>*, \
                                                    int64_t, int64_t, double);                            \
  template void layer_norm_backward_x<T, compute_t<T>>(Device, const T*, const T*, const compute_t<T>*,   \
                                                       const compute_t<T>*, const compute_t<T>*, T*,      \
                                                       int64_t, int64_t);                                 \
  template void layer_norm_backward_params<T, compute_t<T>>(Device, const T*, const T*,                   \
                                                            const compute_t<T>*, const compute_t<T>*,     \
                                                            compute_t<T>*, compute_t<T>*, int64_t, int64_t);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_LAYER_NORM)

}  // namespace nkd::ops::gpu
